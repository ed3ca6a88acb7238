"""Ünïcödé: Grüße, 日本語, emoji 🎉, Greek αβγ, math ∑∫√, and a right-to-left word: שלום."""

# Größe: the size, $\lambda$ in prose comments needs no r prefix.
größe = "Straße"  # trailing comment: ßäöü
π = 3.14159
emoji = "🎉 # not a comment 🎉"
separator = "line\u2028separator"  # the escape, not the character

# 日本語のコメント。
名前 = "値"
