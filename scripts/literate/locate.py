"""Where in its file a piece of a page's prose was written, for messages of the form `file:line: reason`.

The build meets prose after it has left the file: a formula KaTeX rejects is TeX taken out of a comment block
(the `#` of each line gone) or a docstring (its margin gone), a broken link is a URL in the converted page. To
find the line, both the file and the piece are *normalised* line by line (surrounding spaces, then one
leading `#` and the spaces after it, removed) and the piece is looked for in the file's prose alone, so that
a link target that also appears in the code above it (`NAME = "missing.py"`) does not mislead.
"""
from __future__ import annotations

from .parse import Document


# The file's text with every code line blanked: line numbers stay those of the file.
def prose_view(doc: Document) -> str:
    lines = [""] * len(doc.lines)
    for section in doc.sections:
        for line in section.prose:
            lines[line.number - 1] = line.text
    return "\n".join(lines)


def normalize(text: str) -> str:
    return "\n".join(_normal_line(line) for line in text.split("\n"))


def _normal_line(line: str) -> str:
    line = line.strip()
    return line[1:].strip() if line.startswith("#") else line


# The line (from 1) of the first of `needles` found in `text`, after normalising both; 1 if none is found.
# A multi-line needle matches when its lines follow each other in the file.
def find_line(text: str, *needles: str) -> int:
    view = normalize(text)
    for needle in needles:
        wanted = normalize(needle).strip("\n")
        if not wanted:
            continue
        position = view.find(wanted)
        if position >= 0:
            return view.count("\n", 0, position) + 1
    return 1


# A link target in the prose: as the Markdown link, the reference definition, an HTML attribute, then bare.
# Several spellings of one target (as in the HTML, and with its entities decoded) are tried in turn.
def find_link(text: str, *targets: str) -> int:
    forms = ("]({}", "]( {}", "]: {}", '="{}"', "='{}'", "{}")
    return find_line(text, *(form.format(target) for target in targets for form in forms))
