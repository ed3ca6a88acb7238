"""Syntax highlighting of the code column, from the tokens the parser already has.

Python's `tokenize` has split the file into names, operators, strings, numbers and comments; each becomes a
`<span>` with the short class Pygments would give it (`k` keyword, `s2` string, `c1` comment ...), which
Material's stylesheet colours in both palettes. A token that spans lines (a multi-line string) is cut at
the line ends, so each line's HTML stands on its own; text between tokens (spaces, a line-continuation
backslash) is copied as it is. So the text of line *n* of the result is exactly line *n* of the file.
"""
from __future__ import annotations

import builtins
import html
import keyword
import tokenize

PUNCTUATION = set("()[]{},:;.")
AFTER = {"def": "nf", "class": "nc", "@": "nd"}
NAMED = {"True": "kc", "False": "kc", "None": "kc", "self": "bp", "cls": "bp"}
BUILTINS = set(dir(builtins))
# Token types that hold no text of a line: they are not drawn.
INVISIBLE = {tokenize.NEWLINE, tokenize.NL, tokenize.INDENT, tokenize.DEDENT, tokenize.ENDMARKER,
             tokenize.ENCODING}
FSTRING_TYPES = ("FSTRING_START", "FSTRING_MIDDLE", "FSTRING_END")  # Python 3.12 and later
TYPE_CLASSES = {tokenize.STRING: "s2", tokenize.COMMENT: "c1", tokenize.NUMBER: "m",
                **{getattr(tokenize, name): "s2" for name in FSTRING_TYPES if hasattr(tokenize, name)}}


def highlight(lines: list[str], tokens: list[tokenize.TokenInfo]) -> list[str]:
    out: list[list[str]] = [[] for _ in lines]
    written = [0] * len(lines)  # on each line, the column up to which the HTML is written
    previous = ""  # the previous token's text, "@" only for a decorator's
    for token in tokens:
        if token.type in INVISIBLE:
            continue
        _draw(out, written, lines, token, _css_class(token, previous))
        starts_line = not lines[token.start[0] - 1][:token.start[1]].strip()
        previous = token.string if token.string != "@" or starts_line else "@ operator"
    for number, line in enumerate(lines):
        out[number].append(html.escape(line[written[number]:], quote=False))
    return ["".join(parts) for parts in out]


# Write one token, line by line, after the plain text that precedes it.
def _draw(out: list[list[str]], written: list[int], lines: list[str], token: tokenize.TokenInfo,
          css: str) -> None:
    (first, start), (last, end) = token.start, token.end
    for row in range(first, min(last, len(lines)) + 1):
        index = row - 1
        begin = start if row == first else 0
        stop = end if row == last else len(lines[index])
        out[index].append(html.escape(lines[index][written[index]:begin], quote=False))
        text = html.escape(lines[index][begin:stop], quote=False)
        out[index].append(f'<span class="{css}">{text}</span>' if css and text else text)
        written[index] = max(written[index], stop)


def _css_class(token: tokenize.TokenInfo, previous: str) -> str:
    if token.type == tokenize.OP:
        return "p" if token.string in PUNCTUATION else "o"
    if token.type == tokenize.NAME:
        return _name_class(token.string, previous)
    return TYPE_CLASSES.get(token.type, "")


# A name after `def`, `class` or a decorator's `@` is a function, class or decorator name; otherwise what the
# name itself is: a constant, a keyword, `self`/`cls`, a builtin, or a plain name (no span).
def _name_class(name: str, before: str) -> str:
    if before in AFTER:
        return AFTER[before]
    if name in NAMED:
        return NAMED[name]
    if keyword.iskeyword(name):
        return "k"
    return "nb" if name in BUILTINS else ""
