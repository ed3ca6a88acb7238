r"""Split a Python file into sections of prose and code, the way the site shows it.

The result is a list of [`Section`](#Section)s. Each holds *source lines*, each line with its number, in one
of two columns: prose (comment blocks and docstrings, shown as Markdown) or code. The sections tile the file:
every line of the file is in exactly one section and one column, and the sections follow the file's order.
The rules, in the order they are applied:

* A comment on a line of its own is prose, unless it is a pragma (`# noqa`, `# pylint:`, `# type:` ...),
  the shebang or the coding line, or it sits inside an unfinished statement (between brackets) or between a
  decorator and its `def`: those stay code. Trailing comments are code. Python's `tokenize` finds the
  comments, so a `#` inside a string is never one.
* A module, class or function docstring is prose when it is a single string token alone on its lines.
  A definition with such a docstring opens a new section at its first decorator or `def`/`class` line, so the
  signature sits in the code column beside its docstring (unless a comment block right above it has already
  opened a section with no code yet: then they share it).
* A comment line opens a new section when the current one already has code.
* Blank lines between code lines are code; other blank lines (around prose, at the ends of a section's code)
  are prose, where they separate paragraphs.

A docstring is shown as its author wrote it in the file, not as Python reads it: `\frac` in a plain string
stays `\frac` (Python would read a form feed), and only `\\` is read as one backslash, as the project's
own rule asks (see [`escape_problems`](#escape_problems), which `scripts/lint_docstrings.py` runs over the
project's files). A file that does not parse raises [`LiterateError`](#LiterateError) with `file:line: reason`.
"""
from __future__ import annotations

import ast
import io
import re
import tokenize
import warnings
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

import yaml

from .highlight import highlight

# Own-line comments that are instructions to tools, not prose.
PRAGMA = re.compile(
    r"#\s*(noqa\b|pylint\s*:|type\s*:|mypy\s*:|pyright\s*:|pyre-|fmt\s*:|isort\s*:|pragma\s*:|ruff\s*:"
    r"|flake8\s*:)", re.IGNORECASE)
CODING = re.compile(r"^[ \t\f]*#.*?coding[:=][ \t]*[-\w.]+")
FRONT_MATTER_FENCE = "---"
# Token types that are layout, not content, when deciding what else shares a line.
LAYOUT_TOKENS = {tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT, tokenize.ENDMARKER,
                 tokenize.ENCODING}


# <a id="LiterateError"></a>
# A file the site refuses to render. `str()` gives `file:line: reason`, the one line the build prints.
class LiterateError(Exception):
    def __init__(self, path: str, line: int, reason: str) -> None:
        super().__init__(f"{path}:{line}: {reason}")
        self.path = path
        self.line = line
        self.reason = reason


# ## The data
#
# A source line: its number (from 1) and its text without the newline.
@dataclass(frozen=True)
class Line:
    number: int
    text: str


# <a id="Section"></a>
# Prose lines and the code lines they explain. `markdown` is the prose as the page shows it: comment
# markers, quotes, indentation and front matter removed.
@dataclass
class Section:
    prose: list[Line] = field(default_factory=list)
    code: list[Line] = field(default_factory=list)
    markdown: str = ""

    @property
    def numbers(self) -> list[int]:
        return sorted(line.number for line in (*self.prose, *self.code))


# A parsed file: its lines, its sections, the module docstring's front matter, and each line highlighted as
# HTML for the code column (see [highlight](highlight.py)).
@dataclass
class Document:
    path: str
    lines: list[str]
    sections: list[Section]
    meta: dict[str, Any]
    highlighted: list[str] = field(default_factory=list)

    @property
    def title(self) -> str | None:
        if self.meta.get("title"):
            return str(self.meta["title"])
        for section in self.sections:
            for text in section.markdown.splitlines():
                if text.startswith("# "):
                    return text[2:].strip()
        return None

    @property
    def summary(self) -> str | None:
        value = self.meta.get("summary") or self.meta.get("description")
        return " ".join(str(value).split()) if value else None


class Kind(Enum):
    CODE = "code"
    BLANK = "blank"
    COMMENT = "comment"
    DOCSTRING = "docstring"


# A docstring shown as prose: its first and last line, its text as the page shows it (as written in the file,
# its margin removed), and the line where its definition's header starts (`None` for the module docstring).
@dataclass(frozen=True)
class Docstring:
    first: int
    last: int
    text: str
    header: int | None


# ## Reading the file
#
# Python's own rules: the encoding comes from a BOM or coding cookie, and `\r\n` and `\r` end lines like `\n`
# (but a form feed does not, unlike in `str.splitlines`).
def decode(data: bytes) -> str:
    encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
    text = data.decode("utf-8-sig" if encoding == "utf-8-sig" else encoding)
    return normalize_newlines(text)


def normalize_newlines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


def split_lines(source: str) -> list[str]:
    lines = source.split("\n")
    return lines[:-1] if lines[-1] == "" else lines


def parse_file(path: str, data: bytes) -> Document:
    return parse_source(path, decode(data))


# ## Parsing
#
# `ast` finds the docstrings and decorators, `tokenize` the comments and what shares a line with what.
def parse_source(path: str, source: str) -> Document:
    source = normalize_newlines(source)
    lines = split_lines(source)
    tree = _parse_tree(path, source)
    tokens = _tokens(path, source)
    docstrings = _docstrings(tree, tokens, lines)
    kinds = _classify(lines, tokens, docstrings, _decorator_headers(tree))
    sections = _sections(lines, kinds, docstrings)
    meta = _front_matter(path, docstrings)
    for section in sections:
        section.markdown = _markdown(section, docstrings)
    return Document(path, lines, sections, meta, highlighted=highlight(lines, tokens))


def _parse_tree(path: str, source: str) -> ast.Module:
    try:
        with warnings.catch_warnings():  # invalid escapes: reported by the docstring rule, not as warnings
            warnings.simplefilter("ignore")
            return ast.parse(source, filename=path)
    except SyntaxError as error:
        raise LiterateError(path, error.lineno or 1, f"syntax error: {error.msg}") from error
    except ValueError as error:  # null bytes
        raise LiterateError(path, 1, f"cannot parse: {error}") from error


def _tokens(path: str, source: str) -> list[tokenize.TokenInfo]:
    try:
        return list(tokenize.generate_tokens(io.StringIO(source).readline))
    except (tokenize.TokenError, SyntaxError) as error:
        raise LiterateError(path, getattr(error, "lineno", None) or 1, f"cannot tokenize: {error}") from error


# ## Docstrings
#
# The module, class and function docstrings that are a single string token alone on their lines become prose.
def _docstrings(tree: ast.Module, tokens: list[tokenize.TokenInfo], lines: list[str]) -> dict[int, Docstring]:
    busy = _busy_lines(tokens)
    found: dict[int, Docstring] = {}
    for node, expr, token in _docstring_tokens(tree, tokens, lines):
        alone = token.end[0] == expr.end_lineno and all(
            busy.get(number, 0) == 1 for number in range(token.start[0], token.end[0] + 1))
        if alone:
            header = None if isinstance(node, ast.Module) else _header_start(node)
            text = clean_docstring(as_written(token.string), token.start[1])
            found[token.start[0]] = Docstring(token.start[0], token.end[0], text, header)
    return found


# Each docstring with its node, its expression and its string token.
def _docstring_tokens(tree: ast.Module, tokens: list[tokenize.TokenInfo], lines: list[str]) -> list[tuple[
        ast.AST, ast.Expr, tokenize.TokenInfo]]:
    by_start = {token.start: token for token in tokens if token.type == tokenize.STRING}
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        expr = node.body[0] if node.body else None
        if not (isinstance(expr, ast.Expr) and isinstance(expr.value, ast.Constant)
                and isinstance(expr.value.value, str)):
            continue
        token = by_start.get((expr.lineno, _column(lines, expr.lineno, expr.col_offset)))
        if token is not None:  # else an f-string or a parenthesised string: not a plain docstring
            found.append((node, expr, token))
    return found


# A string token's text between its quotes, as the author wrote it. In a string without `r`, `\\` is one
# backslash and a backslash before a line break joins the lines, as in Python; any other backslash stays as it
# is written (`\frac` is not a form feed and `f`).
def as_written(token_text: str) -> str:
    prefix = re.match(r"[A-Za-z]*", token_text).group(0)
    body = token_text[len(prefix):]
    quote = body[:3] if body[:3] in ('"""', "'''") else body[:1]
    body = body[len(quote):len(body) - len(quote)]
    if "r" in prefix.lower():
        return body
    return re.sub(r"\\(\\|\n)", lambda match: "\\" if match.group(1) == "\\" else "", body)


# <a id="clean_docstring"></a>
# `inspect.cleandoc`, except for the margin. A line less indented than the docstring itself (a `.` at column 0
# in an indented docstring) does not move the margin to the left, which would leave every other line indented
# by four spaces: a Markdown code block. The docstring's own indentation is that of its closing quotes when
# they stand alone on their line, else that of its opening quotes (`column`).
def clean_docstring(text: str, column: int) -> str:
    lines = text.expandtabs().split("\n")
    rest = lines[1:]
    floor = len(rest[-1]) if rest and not rest[-1].strip() else column
    indents = [len(line) - len(line.lstrip()) for line in rest if line.strip()]
    margin = min((indent for indent in indents if indent >= floor), default=min(indents, default=0))
    cleaned = [lines[0].lstrip()] + [line[min(margin, len(line) - len(line.lstrip())):] for line in rest]
    while cleaned and not cleaned[-1].strip():
        cleaned.pop()
    while cleaned and not cleaned[0].strip():
        cleaned.pop(0)
    return "\n".join(cleaned)


# `ast` counts columns in UTF-8 bytes, `tokenize` in characters.
def _column(lines: list[str], number: int, byte_offset: int) -> int:
    return len(lines[number - 1].encode("utf-8")[:byte_offset].decode("utf-8", errors="ignore"))


# How many content tokens touch each line (layout tokens and comments do not count, except that a trailing
# comment counts once for its line).
def _busy_lines(tokens: list[tokenize.TokenInfo]) -> dict[int, int]:
    busy: dict[int, int] = {}
    for token in tokens:
        if token.type in LAYOUT_TOKENS:
            continue
        for number in range(token.start[0], token.end[0] + 1):
            busy[number] = busy.get(number, 0) + 1
    return busy


def _header_start(node: ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    return min([node.lineno, *(decorator.lineno for decorator in node.decorator_list)])


# <a id="escape_problems"></a>
# The project's rule for its own files (a lint, not a build failure: the site shows any file as written): a
# docstring without `r` may contain no backslash escape other than `\\`. Anything else either changes the
# text for Python (`\f`, `\t`, `\a`, `\n`, `\x..`) or is an invalid escape Python warns about (`\s`), so
# `help()` and the page would differ. One `file:line: reason` per docstring that breaks it.
def escape_problems(path: str, source: str) -> list[LiterateError]:
    source = normalize_newlines(source)
    tree = _parse_tree(path, source)
    tokens = _tokens(path, source)
    problems = []
    for _, _, token in _docstring_tokens(tree, tokens, split_lines(source)):
        problem = _escape_problem(path, token)
        if problem is not None:
            problems.append(problem)
    return problems


def _escape_problem(path: str, token: tokenize.TokenInfo) -> LiterateError | None:
    prefix = re.match(r"[A-Za-z]*", token.string).group(0)
    if "r" in prefix.lower():
        return None
    body = token.string[len(prefix):]
    position = 0
    while (position := body.find("\\", position)) != -1:
        following = body[position + 1:position + 2]
        if following != "\\":
            line = token.start[0] + body.count("\n", 0, position)
            shown = "\\" + following if following.strip() else "\\ at the end of a line"
            return LiterateError(path, line, f"docstring without r prefix contains the escape {shown} "
                                             '(write r"""...""" so that backslashes, as in LaTeX, survive)')
        position += 2
    return None


# Lines from a decorator down to its `def` or `class` line: a comment there stays code.
def _decorator_headers(tree: ast.Module) -> set[int]:
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.decorator_list:
            lines.update(range(_header_start(node), node.lineno + 1))
    return lines


# ## Classifying lines
def _classify(lines: list[str], tokens: list[tokenize.TokenInfo], docstrings: dict[int, Docstring],
              decorator_lines: set[int]) -> list[Kind]:
    kinds = [Kind.CODE] * (len(lines) + 1)  # index 0 unused
    inside_strings = _string_interiors(tokens)
    for number, text in enumerate(lines, start=1):
        if not text.strip() and number not in inside_strings:
            kinds[number] = Kind.BLANK
    for number in _prose_comment_lines(lines, tokens):
        if number not in decorator_lines:
            kinds[number] = Kind.COMMENT
    for docstring in docstrings.values():
        for number in range(docstring.first, docstring.last + 1):
            kinds[number] = Kind.DOCSTRING
    return kinds[1:]


# Lines that continue a multi-line string token after its first line: never blank, never a comment.
def _string_interiors(tokens: list[tokenize.TokenInfo]) -> set[int]:
    lines: set[int] = set()
    for token in tokens:
        if token.type == tokenize.STRING or tokenize.tok_name[token.type].startswith("FSTRING"):
            lines.update(range(token.start[0] + 1, token.end[0] + 1))
    return lines


# A comment is prose when it starts a logical line (nothing of the statement before it, not inside brackets)
# and is not a pragma.
def _prose_comment_lines(lines: list[str], tokens: list[tokenize.TokenInfo]) -> list[int]:
    found = []
    in_statement = False
    for token in tokens:
        if token.type == tokenize.NEWLINE:
            in_statement = False
        elif token.type == tokenize.COMMENT:
            number = token.start[0]
            alone = not lines[number - 1][:token.start[1]].strip()
            if alone and not in_statement and not _is_pragma(number, token.string):
                found.append(number)
        elif token.type not in LAYOUT_TOKENS:
            in_statement = True
    return found


def _is_pragma(number: int, comment: str) -> bool:
    return bool(PRAGMA.match(comment)) or (number == 1 and comment.startswith("#!")) or (
        number <= 2 and bool(CODING.match(comment)))


# ## Sections
#
# One pass over the lines: a comment opens a section when the current one has code; a definition with a
# prose docstring opens one at its header when the current one has code. Blank lines are sorted out after.
def _sections(lines: list[str], kinds: list[Kind], docstrings: dict[int, Docstring]) -> list[Section]:
    headers = {doc.header for doc in docstrings.values() if doc.header is not None}
    ranges: list[list[int]] = [[]]
    has_code = False
    for number, kind in enumerate(kinds, start=1):
        opens = (kind is Kind.COMMENT or (kind is Kind.CODE and number in headers)) and has_code
        if opens:
            ranges.append([])
            has_code = False
        ranges[-1].append(number)
        has_code = has_code or kind is Kind.CODE
    return [_section(lines, kinds, numbers) for numbers in ranges if numbers]


def _section(lines: list[str], kinds: list[Kind], numbers: list[int]) -> Section:
    section = Section()
    for position, number in enumerate(numbers):
        kind = kinds[number - 1]
        code = kind is Kind.CODE or (kind is Kind.BLANK and _between_code(kinds, numbers, position))
        (section.code if code else section.prose).append(Line(number, lines[number - 1]))
    return section


# A blank line is code when the nearest non-blank lines on both sides, within its section, are code.
def _between_code(kinds: list[Kind], numbers: list[int], position: int) -> bool:
    def nearest(indices: range) -> Kind | None:
        for index in indices:
            kind = kinds[numbers[index] - 1]
            if kind is not Kind.BLANK:
                return kind
        return None

    return (nearest(range(position - 1, -1, -1)) is Kind.CODE
            and nearest(range(position + 1, len(numbers))) is Kind.CODE)


# ## The prose as Markdown
#
# Comment lines lose their indentation, the `#` and one space; a docstring becomes its cleaned text
# ([`clean_docstring`](#clean_docstring)) without front matter; blank lines separate paragraphs.
def _markdown(section: Section, docstrings: dict[int, Docstring]) -> str:
    inside = {number for doc in docstrings.values() for number in range(doc.first + 1, doc.last + 1)}
    out: list[str] = []
    for line in section.prose:
        if line.number in docstrings:
            out.extend(["", strip_front_matter(docstrings[line.number].text)[1], ""])
        elif line.number in inside:
            continue
        elif line.text.strip():
            out.append(_comment_text(line.text))
        else:
            out.append("")
    return _squeeze_blank_lines(out)


def _comment_text(text: str) -> str:
    body = text.strip()[1:]
    return body[1:] if body.startswith(" ") else body


def _squeeze_blank_lines(lines: list[str]) -> str:
    text = "\n".join(lines).strip("\n")
    return re.sub(r"\n{3,}", "\n\n", text)


# ## Front matter
#
# YAML between two `---` lines at the very start of a docstring. The module docstring's front matter is the
# page's metadata; any docstring loses it from its prose.
def strip_front_matter(text: str) -> tuple[str | None, str]:
    lines = text.split("\n")
    if not lines or lines[0].strip() != FRONT_MATTER_FENCE:
        return None, text
    for index in range(1, len(lines)):
        if lines[index].strip() == FRONT_MATTER_FENCE:
            return "\n".join(lines[1:index]), "\n".join(lines[index + 1:]).strip("\n")
    return None, text


def _front_matter(path: str, docstrings: dict[int, Docstring]) -> dict[str, Any]:
    module = next((doc for doc in docstrings.values() if doc.header is None), None)
    if module is None:
        return {}
    yaml_text, _ = strip_front_matter(module.text)
    if yaml_text is None:
        return {}
    try:
        meta = yaml.safe_load(yaml_text)
    except yaml.YAMLError as error:
        meta = _simple_front_matter(yaml_text)
        if meta is None:
            mark = getattr(error, "problem_mark", None)
            line = module.first + 2 + (mark.line if mark is not None else 0)  # docstring, `---`, then YAML
            problem = getattr(error, "problem", None) or str(error).splitlines()[0]
            raise LiterateError(path, line, f"front matter is not valid YAML: {problem}") from error
    if meta is None:
        return {}
    if not isinstance(meta, dict):
        raise LiterateError(path, module.first, "front matter must be a YAML mapping (key: value lines)")
    return meta


# The forgiving reading of front matter that is not valid YAML, such as a summary with a `: ` in it:
# `key: value` lines, indented lines continuing the value. `None` when the text is not of that form either.
def _simple_front_matter(text: str) -> dict[str, str] | None:
    meta: dict[str, str] = {}
    key = None
    for line in text.split("\n"):
        match = re.match(r"([A-Za-z_][\w-]*):(?:\s+(.*))?$", line)
        if match:
            key = match.group(1)
            meta[key] = (match.group(2) or "").strip()
        elif line[:1].isspace() and key is not None:
            meta[key] = f"{meta[key]} {line.strip()}".strip()
        elif line.strip():
            return None
    return meta
