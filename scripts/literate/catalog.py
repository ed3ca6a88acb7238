"""Which files of the repository become pages, under which names, and the navigation built from them.

* Every `.py` file under `papers/` is a page, `papers/<area>/<name>.py` at `papers/<area>/<name>/`, except an
  `__init__.py` that holds nothing but a one-line docstring without front matter or links: that one only names
  its area. An `__init__.py` with front matter (like the kit's), code, or a longer introduction is its
  folder's index page.
* A `.py` file under `tests/` that `tracker.md` or a paper's prose links to is a page too.
* The navigation has Home, the tracker, then one section per folder of `papers/` (the kit last), labelled by
  the folder's `__init__.py` (its title, or its docstring's first line) or else by the folder's name, each
  listing its pages by their front-matter titles, then Tests, the test pages by area, each labelled by the
  paper it tests. So every page is in the navigation and has previous and next links.
* A paper and its tests are paired by the tracker's lines (`[page](...) · [tests](...)`) or by their names
  (`papers/<area>/<name>.py`, `tests/<area>/test_<name>.py`); their pages link each other.
* The home page is the dashboard of the tracker ([dashboard](dashboard.py)).
"""
from __future__ import annotations

import hashlib
import pickle
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import dashboard
from .cache import write_atomically
from .links import is_relative, link_targets, resolve
from .parse import Document, LiterateError, parse_file

PAPERS = "papers"
TESTS = "tests"
TRACKER = "tracker.md"
KIT = "kit"
SKIP_FOLDERS = {"__pycache__", "results"}


@dataclass
class Source:
    repo_path: str
    src_uri: str
    doc: Document
    text: str

    @property
    def title(self) -> str:
        if self.doc.title:
            return self.doc.title
        return f"Tests: {self.repo_path}" if self.is_test else self.repo_path

    @property
    def prose(self) -> str:
        return "\n\n".join(section.markdown for section in self.doc.sections)

    @property
    def nav_label(self) -> str:
        return str(self.doc.meta.get("nav") or self.title)

    @property
    def is_test(self) -> bool:
        return not self.repo_path.startswith(f"{PAPERS}/")

    @property
    def results_path(self) -> str:
        folder, _, name = self.repo_path.rpartition("/")
        return f"{folder}/results/{name[:-3]}.json"


# The page a Python file becomes: `x/y.py` is `x/y.md`, `x/__init__.py` is `x/index.md`.
def page_uri(repo_path: str) -> str:
    folder, _, name = repo_path.rpartition("/")
    stem = "index" if name == "__init__.py" else name[:-3]
    return f"{folder}/{stem}.md" if folder else f"{stem}.md"


# ## Parsing, with a cache
#
# Every build needs every file's titles and links, so parsed files are kept by the hash of their content and
# of the parser's own code: in memory for as long as `mkdocs serve` runs, and on disk (`.cache/site/`) from
# one `mkdocs build` to the next.
PARSER_VERSION = hashlib.sha1(b"".join((Path(__file__).parent / name).read_bytes()
                                       for name in ("parse.py", "highlight.py"))).hexdigest()
_PARSED: dict[str, Document] = {}
_USED: set[str] = set()
_NEW: set[str] = set()


def parse_cached(root: Path, repo_path: str) -> tuple[Document, str]:
    data = (root / repo_path).read_bytes()
    key = hashlib.sha1(f"{PARSER_VERSION}\0{repo_path}\0".encode() + data).hexdigest()
    if key not in _PARSED:
        _PARSED[key] = parse_file(repo_path, data)
        _NEW.add(key)
    _USED.add(key)
    return _PARSED[key], "\n".join(_PARSED[key].lines)


# At the start of a build: read the disk cache, unless this process already holds one.
def load_parse_cache(path: Path) -> None:
    _USED.clear()
    if _PARSED:
        return
    try:
        _PARSED.update(pickle.loads(path.read_bytes()))
    except (OSError, pickle.PickleError, EOFError, AttributeError, ImportError, TypeError, ValueError):
        pass


# At the end: keep the entries this build used, so the cache does not grow with every edit.
def save_parse_cache(path: Path) -> None:
    if _NEW or set(_PARSED) != _USED:
        for key in set(_PARSED) - _USED:
            del _PARSED[key]
        write_atomically(path, pickle.dumps(_PARSED))
        _NEW.clear()


# ## Finding the pages
#
# The pages, and a label for each folder of `papers/`: its `__init__.py`'s title, or the first line of its
# docstring (`"""Transformers and attention."""`), or else the folder's name.
@dataclass
class Catalog:
    sources: list[Source]
    labels: dict[str, str]
    root: Path | None = None
    pairs: list[tuple[str, str]] = field(default_factory=list)  # (paper, tests) repository paths

    def label(self, folder: str) -> str:
        return self.labels.get(folder) or folder_label(folder.rpartition("/")[2])


def discover(root: Path) -> Catalog:
    parsed = _sources(root, _paper_files(root))
    labels = {s.repo_path.rpartition("/")[0]: _folder_title(s) for s in parsed
              if s.repo_path.endswith("/__init__.py")}
    sources = [source for source in parsed if _is_page(source)]
    known = {source.repo_path for source in sources}
    linked = _linked_python_files(root, sources)
    sources += _sources(root, sorted(linked - known))
    tracker = root / TRACKER
    tracker_text = tracker.read_text(encoding="utf-8") if tracker.is_file() else ""
    pairs = paper_test_pairs(tracker_text, {source.repo_path for source in sources})
    pairs += [pair for pair in _prose_pairs(sources) if pair not in pairs]
    return Catalog(sources, {folder: label for folder, label in labels.items() if label}, root, pairs)


# ## Papers and their tests
#
# Pairs (paper, tests) as repository paths, from the tracker's lines and the naming convention, kept where both
# are pages of the site.
TRACKER_PAGE = re.compile(r"\[page\]\(([^)\s]+\.py)\)")
TRACKER_TESTS = re.compile(r"\[tests\]\(([^)\s]+\.py)\)")


# A test page that no tracker line pairs is paired with the papers whose prose links it.
def _prose_pairs(sources: list[Source]) -> list[tuple[str, str]]:
    tests = {source.repo_path for source in sources if source.is_test}
    pairs = []
    for source in sources:
        if not source.is_test:
            linked = {resolve(source.repo_path, t) for t in link_targets(source.prose) if is_relative(t)}
            pairs += [(source.repo_path, test) for test in sorted(linked & tests)]
    return pairs


def paper_test_pairs(tracker_text: str, pages: set[str]) -> list[tuple[str, str]]:
    pairs: dict[tuple[str, str], None] = {}
    for line in tracker_text.splitlines():
        page, tests = TRACKER_PAGE.search(line), TRACKER_TESTS.search(line)
        if page and tests and page.group(1) in pages and tests.group(1) in pages:
            pairs.setdefault((page.group(1), tests.group(1)))
    for path in sorted(pages):
        if path.startswith(f"{PAPERS}/"):
            folder, _, name = path[len(PAPERS) + 1:].rpartition("/")
            tests = f"{TESTS}/{folder}/test_{name}" if folder else f"{TESTS}/test_{name}"
            if tests in pages:
                pairs.setdefault((path, tests))
    return list(pairs)


def _folder_title(source: Source) -> str | None:
    if source.doc.meta:
        return source.nav_label
    first = next((s.markdown.strip().split("\n")[0] for s in source.doc.sections if s.markdown.strip()), "")
    first = first.lstrip("#").strip().rstrip(".")
    return first if 0 < len(first) <= 60 else None


# Every file is parsed before any error is raised, so that one build reports all the files it refuses.
def _sources(root: Path, repo_paths: list[str]) -> list[Source]:
    sources, errors = [], []
    for repo_path in repo_paths:
        try:
            doc, text = parse_cached(root, repo_path)
        except LiterateError as error:
            errors.append(error)
            continue
        sources.append(Source(repo_path=repo_path, src_uri=page_uri(repo_path), doc=doc, text=text))
    if errors:
        raise LiterateErrors(errors)
    return sources


class LiterateErrors(Exception):
    def __init__(self, errors: list[LiterateError]) -> None:
        super().__init__("\n".join(str(error) for error in errors))
        self.errors = errors


def _paper_files(root: Path) -> list[str]:
    found = []
    for path in sorted((root / PAPERS).rglob("*.py")):
        relative = path.relative_to(root)
        hidden = any(part.startswith(".") for part in relative.parts)
        if not hidden and not SKIP_FOLDERS.intersection(relative.parts):
            found.append(relative.as_posix())
    return found


def _is_page(source: Source) -> bool:
    if not source.repo_path.endswith("/__init__.py"):
        return True
    has_code = any(line.text.strip() for section in source.doc.sections for line in section.code)
    prose = source.prose.strip()
    introduction = "\n" in prose or "](" in prose  # more than a one-line label, or a link to check
    return bool(source.doc.meta) or has_code or introduction


def _linked_python_files(root: Path, sources: list[Source]) -> set[str]:
    documents = [(source.repo_path, source.prose) for source in sources]
    tracker = root / TRACKER
    if tracker.is_file():
        documents.append((TRACKER, tracker.read_text(encoding="utf-8")))
    linked = set()
    for repo_path, markdown in documents:
        for target in link_targets(markdown):
            path = resolve(repo_path, target) if is_relative(target) else None
            if path and path.startswith(f"{TESTS}/") and path.endswith(".py") and (root / path).is_file():
                linked.add(path)
    return linked


# ## The navigation
#
# A MkDocs `nav` list: `{label: page}` entries and `{label: [...]}` sections.
def navigation(found: Catalog, docs_pages: list[str], has_tracker: bool) -> list[Any]:
    nav: list[Any] = []
    if "index.md" in docs_pages:
        nav.append({"Home": "index.md"})
    nav += [page for page in sorted(docs_pages) if page != "index.md"]
    if has_tracker:
        nav.append({"Tracker": TRACKER})
    papers = [source for source in found.sources if not source.is_test]
    nav += _folder_nav(PAPERS, papers, found)
    tests = _tests_nav(found)
    if tests:
        nav.append({"Tests": tests})
    return nav


# The test pages grouped by the area of the paper they test (or their own folder), in the papers' order.
def _tests_nav(found: Catalog) -> list[Any]:
    by_path = {source.repo_path: source for source in found.sources}
    groups: dict[str, list[Any]] = {}
    for source in sorted((s for s in found.sources if s.is_test), key=lambda s: s.repo_path):
        papers = [by_path[paper] for paper, test in found.pairs if test == source.repo_path and paper in by_path]
        area = (papers[0].repo_path if papers else source.repo_path).split("/")[1:-1]
        label = _test_label(source, papers[0] if papers else None, found)
        groups.setdefault("/".join(area), []).append({label: source.src_uri})
    ordered = sorted(groups, key=lambda area: (area == KIT, area))
    return [{found.label(f"{PAPERS}/{area}") if area else "Other": groups[area]} for area in ordered]


def _test_label(source: Source, paper: Source | None, found: Catalog) -> str:
    if source.doc.title or paper is None:
        return source.nav_label if source.doc.title else folder_label(source.repo_path.rpartition("/")[2][:-3])
    siblings = [test for other, test in found.pairs if other == paper.repo_path]
    if len(siblings) > 1:
        stem = source.repo_path.rpartition("/")[2][:-3].removeprefix("test_")
        return f"{paper.nav_label}: {folder_label(stem)}"
    return paper.nav_label


def _folder_nav(folder: str, sources: list[Source], found: Catalog) -> list[Any]:
    here = [s for s in sources if s.repo_path.rpartition("/")[0] == folder]
    index = [s.src_uri for s in here if s.repo_path.endswith("/__init__.py")]
    pages = sorted((s for s in here if not s.repo_path.endswith("/__init__.py")),
                   key=lambda s: s.nav_label.lower())
    entries: list[Any] = index + [{s.nav_label: s.src_uri} for s in pages]
    for name in subfolders(folder, sources):
        inner = [s for s in sources if s.repo_path.startswith(f"{folder}/{name}/")]
        entries.append({found.label(f"{folder}/{name}"): _folder_nav(f"{folder}/{name}", inner, found)})
    return entries


# The folders directly under `folder` that hold pages, in name order with the kit last.
def subfolders(folder: str, sources: list[Source]) -> list[str]:
    names = {s.repo_path[len(folder) + 1:].split("/")[0] for s in sources
             if s.repo_path.startswith(f"{folder}/") and s.repo_path.count("/") > folder.count("/") + 1}
    return sorted(names, key=lambda name: (name == KIT, name))


def folder_label(name: str) -> str:
    words = name.replace("_", " ").replace("-", " ")
    return words[:1].upper() + words[1:]


def _index_first(source: Source) -> tuple[bool, str]:
    return not source.repo_path.endswith("__init__.py"), source.nav_label.lower()


# The home page's dashboard of the tracker, as Markdown with links relative to the page (`from_path`, a
# repository path such as `docs/index.md`); without a tracker, the list of papers by area.
def home_contents(found: Catalog, from_path: str, has_tracker: bool) -> str:
    up = "../" * from_path.count("/")
    papers = [source for source in found.sources if not source.is_test]
    if has_tracker and found.root is not None:
        sections = dashboard.parse_tracker((found.root / TRACKER).read_text(encoding="utf-8"))
        summaries = {source.repo_path: source.doc.summary or "" for source in papers}
        context = dashboard.Context(found.root, summaries, up)
        intro = f"The [tracker]({up}{TRACKER}) lists every paper; here is each one with its result."
        return intro + "\n\n" + dashboard.dashboard(sections, context)
    lines = []
    folders = [PAPERS] + [f"{PAPERS}/{name}" for name in subfolders(PAPERS, papers)]
    for folder in folders:
        inside = [s for s in papers if s.repo_path.rpartition("/")[0] == folder
                  or (folder != PAPERS and s.repo_path.startswith(f"{folder}/"))]
        if inside and folder != PAPERS:
            lines += [f"### {found.label(folder)}", ""]
        for source in sorted(inside, key=_index_first):
            summary = f": {dashboard.markdown_text(source.doc.summary)}" if source.doc.summary else ""
            title = dashboard.markdown_text(source.title)
            lines.append(f"* [{title}]({up}{source.repo_path}){summary}")
        lines.append("")
    return "\n".join(lines)
