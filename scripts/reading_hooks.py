"""MkDocs hooks (`hooks:` in mkdocs.yml, after `site_hooks.py`) for what a reader finds around the pages.

The work is in [`literate/reading.py`](literate/reading.py): code names and plain-text math in the search, math
in the table of contents, links between each paper and its tests, each page's file in the repository. Listed
after `site_hooks.py`, each event here runs after the renderer's. `mkdocs serve --dirty` (`make serve`) starts
without MkDocs's warning about dirty builds: here every page's navigation is computed on every rebuild, and a
page whose title changed is rebuilt with it; only other pages keep their old menu until they are rebuilt.
"""
# pylint: disable=unused-argument
from __future__ import annotations

import hashlib
import logging
import pickle
from pathlib import Path

from literate import reading
from literate.cache import write_atomically
from literate.catalog import discover, page_uri
from mkdocs.config.defaults import MkDocsConfig
from mkdocs.structure.files import Files
from mkdocs.structure.pages import Page
from mkdocs.utils import get_relative_url

DIRTY_WARNING = "A 'dirty' build is being performed"
# Each file's search block, by the hash of its text and of reading.py: parsing every file again would cost
# about half a second a build. Kept in memory while `mkdocs serve` runs and on disk between builds.
SEARCH_CACHE = Path(".cache") / "site" / "search.pickle"
READING_VERSION = hashlib.sha1(Path(reading.__file__).read_bytes()).hexdigest()


class _NoDirtyWarning(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith(DIRTY_WARNING)


class _State:
    root = Path(".")
    pairs: list[tuple[str, str]] = []
    blocks: dict[str, str] = {}
    used: set[str] = set()


_state = _State()


def on_startup(command: str, dirty: bool) -> None:
    if command == "serve":
        logging.getLogger("mkdocs.commands.build").addFilter(_NoDirtyWarning())


# Every page's `edit_uri` is its file's repository path; papers and their tests are paired.
def on_files(files: Files, config: MkDocsConfig) -> Files:
    _state.root = Path(config.config_file_path).resolve().parent
    for file in files.documentation_pages():
        file.edit_uri = reading.repository_path(_state.root, file.abs_src_path)
    _state.pairs = discover(_state.root).pairs  # the files are parsed already (the renderer's cache)
    if not _state.blocks:
        try:
            _state.blocks = pickle.loads((_state.root / SEARCH_CACHE).read_bytes())
        except (OSError, pickle.PickleError, EOFError, TypeError, ValueError):
            _state.blocks = {}
    _state.used = set()
    return files


def on_page_content(html: str, page: Page, config: MkDocsConfig, files: Files) -> str:
    reading.toc_with_math(page.toc, html)
    html = reading.searchable_math(html)
    path = reading.repository_path(_state.root, page.file.abs_src_path)
    if not path or not path.endswith(".py") or not page.file.src_uri.endswith(".md"):
        return html
    label, related = reading.related_links(_state.pairs, path)
    links = []
    for other in related:
        target = files.get_file_from_path(page_uri(other))
        if target is not None:
            links.append((other, get_relative_url(target.url, page.file.url)))
    html = reading.add_related(html, label, links)
    return html + _search_block(Path(page.file.abs_src_path).read_text(encoding="utf-8"), page.title or path)


def _search_block(source: str, title: str) -> str:
    key = hashlib.sha1(f"{READING_VERSION}\0{title}\0{source}".encode()).hexdigest()
    if key not in _state.blocks:
        _state.blocks[key] = reading.search_block(source, title)
    _state.used.add(key)
    return _state.blocks[key]


# The cache keeps what this build used (a dirty rebuild uses few pages: it keeps the rest).
def on_post_build(config: MkDocsConfig) -> None:
    if len(_state.used) > len(_state.blocks) // 2:
        _state.blocks = {key: _state.blocks[key] for key in _state.used}
    write_atomically(_state.root / SEARCH_CACHE, pickle.dumps(_state.blocks))


def on_post_page(output: str, page: Page, config: MkDocsConfig) -> str:
    return reading.strip_search_only(output)
