r"""Math in prose: kept away from Markdown, then rendered to HTML by KaTeX when the site is built.

Markdown would read the `_` of `$x_i$` as emphasis and eat the backslashes of `\{`. So before Markdown sees
the text, a preprocessor finds every `$…$` and `$$…$$` (outside code spans and fenced code) and stores it as a
placeholder `<span class="lp-math" …>TeX</span>`. In the finished page (after the search has indexed the TeX),
[`KaTeX`](#KaTeX) turns each placeholder into HTML with Node and `node_modules/katex` (pinned by
`package-lock.json`), so the browser needs only KaTeX's stylesheet and fonts, copied from `node_modules` into
the site: a page makes no request off the machine.

The rules for dollars are Pandoc's: `$` opens inline math when a non-space follows it and closes it when a
non-space precedes it and no digit follows (so "$5 and $10" is text); `\$` is a literal dollar; math does not
cross a blank line. As in KaTeX's own auto-render, a bare `\begin{align}` ... `\end{align}` (and `equation`,
`gather`, `alignat`, `CD`, starred or not) is displayed math without `$$`. A `$` that opens or closes
nothing (`$i = 1, \dots, $`: a space before the closing `$`) is reported through `stray`, which the site
turns into a warning with the file and line: raw TeX never reaches the page silently.
"""
from __future__ import annotations

import hashlib
import html
import json
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Callable

from markdown import Extension, Markdown
from markdown.preprocessors import Preprocessor

from .cache import write_atomically

PLACEHOLDER = re.compile(r'<span class="lp-math" data-display="([01])">(.*?)</span>', re.DOTALL)
FENCE = re.compile(r"^[ \t]*(`{3,}|~{3,})")
SPECIAL = re.compile(r"[\\`$]")
BACKTICKS = re.compile(r"`+")
# The environments KaTeX's auto-render treats as displayed math without delimiters.
ENVIRONMENT = re.compile(r"\\begin\{((?:equation|align|alignat|gather|CD)\*?)\}")
RENDERER = Path(__file__).with_name("katex_render.cjs")
# Takes the TeX of a formula and whether it is displayed; returns what replaces it in the Markdown.
Store = Callable[[str, bool], str]
# Hears of each `$` left as text, with the Markdown line that holds it.
Stray = Callable[[str], None]


# ## Finding math
#
# A small scanner over a run of Markdown lines that are not fenced code. It copies code spans and escaped
# characters through unchanged and hands each math span to `store`, which returns its replacement.
def protect_math(text: str, store: Store, stray: Stray | None = None) -> str:
    out: list[str] = []
    position = 0
    while (match := SPECIAL.search(text, position)) is not None:
        start = match.start()
        out.append(text[position:start])
        char = match.group(0)
        if char == "\\":
            position = _backslash(text, start, store, out)
        elif char == "`":
            position = _code_span_end(text, start)
            out.append(text[start:position])
        elif (found := _math_span(text, start)) is not None:
            tex, display, position = found
            out.append(store(tex, display))
        else:
            out.append(char)
            position = start + 1
            if stray is not None and not _in_indented_block(text, start):
                stray(_line_at(text, start))
    out.append(text[position:])
    return "".join(out)


# `\$` is a dollar, `\begin{align}` ... `\end{align}` displayed math, any other escape is left to Markdown.
# Appends the replacement to `out` and returns where scanning goes on.
def _backslash(text: str, start: int, store: Store, out: list[str]) -> int:
    environment = ENVIRONMENT.match(text, start)
    if environment is not None:
        closing = f"\\end{{{environment.group(1)}}}"
        end = text.find(closing, environment.end())
        if end != -1:
            out.append(store(text[start:end + len(closing)], True))
            return end + len(closing)
    escaped = text[start + 1:start + 2]
    out.append("&#36;" if escaped == "$" else "\\" + escaped)
    return start + 1 + len(escaped)


def _line_at(text: str, index: int) -> str:
    return text[text.rfind("\n", 0, index) + 1:(text.find("\n", index) + 1 or len(text) + 1) - 1]


# A line indented by four spaces or a tab may be an indented code block (`$ make`): its dollars are not math.
def _in_indented_block(text: str, index: int) -> bool:
    return _line_at(text, index).startswith(("    ", "\t"))


# A code span ends at the next run of exactly as many backticks, within the paragraph; without one, the
# backticks are text.
def _code_span_end(text: str, start: int) -> int:
    run = BACKTICKS.match(text, start).end() - start
    limit = _paragraph_end(text, start)
    for match in BACKTICKS.finditer(text, start + run, limit):
        if match.end() - match.start() == run:
            return match.end()
    return start + run


def _math_span(text: str, start: int) -> tuple[str, bool, int] | None:
    if text.startswith("$$", start):
        end = _closing(text, start + 2, "$$")
        tex = text[start + 2:end].strip() if end is not None else ""
        return (tex, True, end + 2) if end is not None and tex else None
    if start + 1 >= len(text) or text[start + 1].isspace():
        return None
    search = start + 1
    while (end := _closing(text, search, "$")) is not None:
        if not text[end - 1].isspace() and not text[end + 1:end + 2].isdigit():
            return text[start + 1:end], False, end + 1
        search = end + 1
    return None


# The next `closer` not escaped by a backslash, within the paragraph.
def _closing(text: str, start: int, closer: str) -> int | None:
    limit = _paragraph_end(text, start)
    position = start
    while (found := text.find(closer, position, limit)) != -1:
        if not _escaped(text, found):
            return found
        position = found + 1
    return None


def _paragraph_end(text: str, start: int) -> int:
    end = text.find("\n\n", start)
    return len(text) if end == -1 else end


def _escaped(text: str, index: int) -> bool:
    backslashes = 0
    while index - backslashes > 0 and text[index - backslashes - 1] == "\\":
        backslashes += 1
    return backslashes % 2 == 1


# Split Markdown into fenced code blocks (left alone) and the text between them (scanned for math).
def protect_markdown(markdown: str, store: Store, stray: Stray | None = None) -> str:
    out: list[str] = []
    pending: list[str] = []
    fence: str | None = None
    for line in markdown.split("\n"):
        match = FENCE.match(line)
        if fence is None and match:
            if pending:
                out.append(protect_math("\n".join(pending), store, stray))
            pending = []
            fence = match.group(1)
            out.append(line)
        elif fence is not None:
            out.append(line)
            if match and match.group(1)[0] == fence[0] and len(match.group(1)) >= len(fence) and \
                    not line.strip()[len(match.group(1)):].strip():
                fence = None
        else:
            pending.append(line)
    if pending:
        out.append(protect_math("\n".join(pending), store, stray))
    return "\n".join(out)


def placeholder(tex: str, display: bool) -> str:
    return f'<span class="lp-math" data-display="{int(display)}">{html.escape(tex, quote=False)}</span>'


# ## The Markdown extension
#
# Runs right after Markdown's whitespace normalisation, before fenced code, raw HTML and everything else.
# The placeholder goes into Markdown's stash of raw HTML, which no later step looks into.
class _ProtectMath(Preprocessor):
    def __init__(self, md: Markdown, stray: Stray | None) -> None:
        super().__init__(md)
        self.stray = stray

    def run(self, lines: list[str]) -> list[str]:
        def store(tex: str, display: bool) -> str:
            return self.md.htmlStash.store(placeholder(tex, display))

        return protect_markdown("\n".join(lines), store, self.stray).split("\n")


class MathExtension(Extension):
    def __init__(self, stray: Stray | None = None) -> None:
        super().__init__()
        self.stray = stray

    def extendMarkdown(self, md: Markdown) -> None:
        md.preprocessors.register(_ProtectMath(md, self.stray), "literate_math", 29)


# ## Rendering with KaTeX
@dataclass
class Rendered:
    html: str
    error: str | None = None


class MathUnavailable(Exception):
    """Node or KaTeX is missing."""


# <a id="KaTeX"></a>
# One Node process per build, started at the first formula not in the cache, answering one JSON line per
# request. The cache (a JSON file keyed by KaTeX's version, display mode and TeX) makes rebuilds instant.
class KaTeX:
    def __init__(self, root: Path, cache_file: Path) -> None:
        self.root = root
        self.cache_file = cache_file
        self.version = _katex_version(root)
        self._cache: dict[str, dict] | None = None
        self._changed = False
        self._process: subprocess.Popen[str] | None = None
        self._stderr: IO[str] | None = None

    def render(self, tex: str, display: bool) -> Rendered:
        key = hashlib.sha1(f"{self.version}\0{int(display)}\0{tex}".encode()).hexdigest()
        cache = self._load()
        if key not in cache:
            cache[key] = self._ask({"tex": tex, "display": display})
            self._changed = True
        return Rendered(cache[key]["html"], cache[key].get("error"))

    # Replace every placeholder in a page's HTML; `report` hears of each formula KaTeX rejects.
    def render_page(self, content: str, report: Callable[[str, str], None]) -> str:
        def replace(match: re.Match[str]) -> str:
            tex = html.unescape(match.group(2))
            rendered = self.render(tex, match.group(1) == "1")
            if rendered.error:
                report(tex, rendered.error)
            return rendered.html

        return PLACEHOLDER.sub(replace, content)

    def close(self) -> None:
        if self._process is not None:
            self._process.stdin.close()
            self._process.wait(timeout=10)
            self._process = None
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None
        if self._changed and self._cache is not None:
            write_atomically(self.cache_file, json.dumps(self._cache).encode("utf-8"))
            self._changed = False

    def _load(self) -> dict[str, dict]:
        if self._cache is None:
            try:
                self._cache = json.loads(self.cache_file.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                self._cache = {}
        return self._cache

    def _ask(self, request: dict) -> dict:
        process = self._start()
        process.stdin.write(json.dumps(request) + "\n")
        process.stdin.flush()
        reply = process.stdout.readline()
        if not reply:
            raise MathUnavailable(f"the KaTeX renderer stopped: {self._errors()}")
        return json.loads(reply)

    # Node's error output goes to a temporary file: a pipe nobody reads could fill up and stall it.
    def _start(self) -> subprocess.Popen[str]:
        if self._process is None:
            node = shutil.which("node")
            if node is None:
                raise MathUnavailable("node is not on the PATH: install Node.js (math is rendered by KaTeX)")
            self._stderr = tempfile.TemporaryFile(mode="w+", encoding="utf-8")
            # pylint: disable-next=consider-using-with
            self._process = subprocess.Popen([node, str(RENDERER), str(self.root)], stdin=subprocess.PIPE,
                                             stdout=subprocess.PIPE, stderr=self._stderr, text=True,
                                             encoding="utf-8")
            if not self._process.stdout.readline():
                raise MathUnavailable(f"the KaTeX renderer did not start: {self._errors()}")
        return self._process

    def _errors(self) -> str:
        if self._stderr is None:
            return ""
        self._stderr.seek(0)
        return self._stderr.read().strip()


def katex_dist(root: Path) -> Path:
    dist = root / "node_modules" / "katex" / "dist"
    if not (dist / "katex.min.css").is_file():
        raise MathUnavailable("node_modules/katex is missing: run `npm ci` (or `make env`) in the repository")
    return dist


def _katex_version(root: Path) -> str:
    katex_dist(root)
    package = json.loads((root / "node_modules" / "katex" / "package.json").read_text(encoding="utf-8"))
    return str(package["version"])
