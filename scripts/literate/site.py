"""What the MkDocs hooks do, in one object per build (`scripts/site_hooks.py` only forwards the events).

1. `files`: find the pages (see [catalog](catalog.py)), add them to MkDocs's files as generated pages
   backed by their `.py` files (so `mkdocs serve --dirty` rebuilds only what changed), add the files they
   link to, the results figures and KaTeX's stylesheet and fonts, and set the navigation. A page's Markdown
   is its prose, one marked part per section ([`LiterateFile`](#LiterateFile)).
2. `markdown`: tell the link rewriter and the messages which page is converted; escape the page's description
   for its `<meta>` tag; add the tracker's progress and the home page's list of papers.
3. `content`: refuse URLs that run script or fetch from another machine ([safety](safety.py)); lay the prose
   out beside (a slot for) the code, add the source link and the results.
4. `post_page`: render the math of the finished page, and fill its code slots with the highlighted code.
"""
from __future__ import annotations

import html
import json
import logging
import os
from pathlib import Path
from typing import Callable

from jinja2 import Environment, FileSystemBytecodeCache
from mkdocs.config.defaults import MkDocsConfig
from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File, Files
from mkdocs.structure.pages import Page
from mkdocs.utils import get_relative_url

from . import catalog
from .catalog import Source
from .layout import LayoutError, assemble, fill_code, page_markdown, results_html
from .links import MKDOCS_DUPLICATES, LinkMap, RepositoryLinks, copyable, is_relative, link_targets, resolve
from .locate import find_line, find_link, prose_view
from .math import KaTeX, MathExtension, MathUnavailable, katex_dist
from .progress import add_progress
from .safety import check_urls, describe

log = logging.getLogger("mkdocs.literate")

CONTENTS = "<!-- literate:contents -->"
KATEX_SITE_DIR = "assets/katex"
CACHE = Path(".cache") / "site"


# <a id="LiterateFile"></a>
# A page made from a Python file. MkDocs reads its Markdown through `content_string`, which renders the
# parsed file; `abs_src_path` stays the `.py` file, so `--dirty` rebuilds the page only when it (or the
# results file) is newer than the built page.
class LiterateFile(File):
    markdown: Callable[[], str] = staticmethod(lambda: "")
    depends_on: list[str] = []

    @property
    def content_string(self) -> str:
        return self.markdown()

    @property
    def content_bytes(self) -> bytes:
        return self.markdown().encode("utf-8")

    def is_modified(self) -> bool:
        if super().is_modified():
            return True
        built = os.path.getmtime(self.abs_dest_path)
        return any(os.path.isfile(path) and os.path.getmtime(path) > built for path in self.depends_on)


class LiterateSite:
    def __init__(self, config: MkDocsConfig) -> None:
        self.root = Path(config.config_file_path).resolve().parent
        self.docs_prefix = Path(config.docs_dir).resolve().relative_to(self.root).as_posix()
        self.links = LinkMap(self.root)
        MKDOCS_DUPLICATES.clear()
        self.where = ("", "")  # the page being converted: its repository path, the text its lines are found in
        self.strays: set[str] = set()
        self.catalog = catalog.Catalog([], {})
        self.sources: dict[str, Source] = {}  # by page src_uri
        self.results: dict[str, dict] = {}  # by page src_uri
        self.site_uris: dict[str, str] = {}  # repository path to site path, of the files added by `files`
        try:
            self.katex = KaTeX(self.root, self.root / CACHE / "katex.json")
        except MathUnavailable as error:
            raise PluginError(str(error)) from error
        config.markdown_extensions.extend([MathExtension(self._stray_dollar), RepositoryLinks(self.links)])

    # ## Files
    def files(self, files: Files, config: MkDocsConfig) -> Files:
        catalog.load_parse_cache(self.root / CACHE / "parsed.pickle")
        try:
            self.catalog = catalog.discover(self.root)
        except catalog.LiterateErrors as failed:
            for error in failed.errors[:-1]:
                log.error("%s", error)
            raise PluginError(str(failed.errors[-1])) from failed
        sources = self.catalog.sources
        self.sources = {source.src_uri: source for source in sources}
        for source in sources:
            files.append(self._page_file(config, source))
            self._add(files, config, source.repo_path, source.repo_path)  # the raw file, for the source link
        has_tracker = (self.root / catalog.TRACKER).is_file()
        if has_tracker:
            self._add(files, config, catalog.TRACKER, catalog.TRACKER)
        for repo_path in sorted(self._linked_files(files) | self._figures()):
            self._add(files, config, repo_path, repo_path)
        self._add_katex(files, config)
        self.links.site_uris = self._site_uris(files)
        docs_pages = [f.src_uri for f in files.documentation_pages() if f.src_uri not in self.sources
                      and f.src_uri != catalog.TRACKER]
        config.nav = catalog.navigation(self.catalog, docs_pages, has_tracker)
        return files

    def _page_file(self, config: MkDocsConfig, source: Source) -> LiterateFile:
        file = LiterateFile.generated(config, source.src_uri, abs_src_path=str(self.root / source.repo_path))
        file.markdown = lambda: page_markdown(source.doc, source.title)
        file.depends_on = [str(self.root / source.results_path)]
        return file

    def _add(self, files: Files, config: MkDocsConfig, src_uri: str, repo_path: str) -> None:
        if files.get_file_from_path(src_uri) is None:
            files.append(File.generated(config, src_uri, abs_src_path=str(self.root / repo_path)))
        self.site_uris.setdefault(repo_path, src_uri)

    # Repository files the prose links to (figures, scripts ...), found by a scan of the Markdown; the links
    # themselves are checked and rewritten when each page is converted.
    def _linked_files(self, files: Files) -> set[str]:
        documents = [(s.repo_path, s.prose) for s in self.sources.values()]
        for file in files.documentation_pages():
            if file.abs_src_path and file.src_uri not in self.sources:
                documents.append((self._repo_path(file), Path(file.abs_src_path).read_text(encoding="utf-8")))
        found = set()
        for repo_path, markdown in documents:
            for target in filter(is_relative, link_targets(markdown)):
                path = resolve(repo_path, target)
                if path and not path.startswith(f"{self.docs_prefix}/") and copyable(self.root, path):
                    found.add(path)
        return found

    # Figures named by each paper's results file, which the results block shows if the prose does not.
    def _figures(self) -> set[str]:
        found = set()
        self.results = {}
        for source in self.sources.values():
            results = self._load_results(source)
            if results is None:
                continue
            self.results[source.src_uri] = results
            folder = source.results_path.rpartition("/")[0]
            for name in results.get("figures") or []:
                path = f"{folder}/{name}"
                if (self.root / path).is_file():
                    found.add(path)
                else:
                    log.warning("%s:1: lists the figure %s, which does not exist", source.results_path, name)
        return found

    def _load_results(self, source: Source) -> dict | None:
        path = self.root / source.results_path
        if source.is_test or not path.is_file():
            return None
        try:
            results = json.loads(path.read_text(encoding="utf-8"))
        except ValueError as error:
            log.warning("%s:1: not valid JSON: %s", source.results_path, error)
            return None
        if not isinstance(results, dict):
            log.warning("%s:1: not a JSON object", source.results_path)
            return None
        return results

    def _add_katex(self, files: Files, config: MkDocsConfig) -> None:
        dist = katex_dist(self.root)
        for path in [dist / "katex.min.css", *sorted((dist / "fonts").iterdir())]:
            src_uri = f"{KATEX_SITE_DIR}/{path.relative_to(dist).as_posix()}"
            if files.get_file_from_path(src_uri) is None:
                files.append(File.generated(config, src_uri, abs_src_path=str(path)))

    # Repository path to site path: the files of `docs/`, then the pages and files added above.
    def _site_uris(self, files: Files) -> dict[str, str]:
        docs_dir = self.root / self.docs_prefix
        uris = {f"{self.docs_prefix}/{file.src_uri}": file.src_uri for file in files
                if file.src_dir and Path(file.src_dir).resolve() == docs_dir}
        uris.update(self.site_uris)
        uris.update({source.repo_path: uri for uri, source in self.sources.items()})
        return uris

    def _repo_path(self, file: File) -> str:
        if not file.abs_src_path:  # a page another plugin generated in memory
            return f"{self.docs_prefix}/{file.src_uri}"
        return Path(file.abs_src_path).resolve().relative_to(self.root).as_posix()

    # The theme's templates, compiled once and kept in `.cache/site/jinja/` (Jinja checks each against its
    # source): a rebuild, in `mkdocs serve` or a new process, skips compiling them again.
    def env(self, env: Environment) -> Environment:
        folder = self.root / CACHE / "jinja"
        folder.mkdir(parents=True, exist_ok=True)
        env.bytecode_cache = FileSystemBytecodeCache(str(folder))
        return env

    # ## Pages
    def markdown(self, markdown: str, page: Page) -> str:
        source = self.sources.get(page.file.src_uri)
        self._set_page(page, source)
        if isinstance(page.meta.get("description"), str):  # the theme puts it into an attribute unescaped
            page.meta["description"] = html.escape(page.meta["description"])
        if source is not None:
            return markdown
        repo_path = self._repo_path(page.file)
        if page.file.src_uri == catalog.TRACKER:
            markdown = add_progress(markdown)
        if CONTENTS in markdown:
            has_tracker = (self.root / catalog.TRACKER).is_file()
            markdown = markdown.replace(CONTENTS, catalog.home_contents(self.catalog, repo_path, has_tracker))
        return markdown

    # Where this page's messages point: its file, and the text its lines are found in (a Python file's prose).
    def _set_page(self, page: Page, source: Source | None) -> None:
        repo_path = self._origin(page, source)
        text = prose_view(source.doc) if source is not None else self._text(page, None)
        self.links.set_page(repo_path, page.file.src_uri, text)
        MKDOCS_DUPLICATES.pages[page.file.src_uri] = (repo_path, text)
        self.where = (repo_path, text)
        self.strays = set()

    # A `$` the math rules leave as text (math.py): raw TeX would reach the page.
    def _stray_dollar(self, line: str) -> None:
        if line in self.strays:
            return
        self.strays.add(line)
        repo_path, text = self.where
        log.warning("%s:%d: a '$' is left as text, so raw TeX would show: %s (no space may follow an opening "
                    "or precede a closing $; write \\$ for a dollar sign)", repo_path or "?",
                    find_line(text, line), line.strip())

    def content(self, content: str, page: Page, files: Files) -> str:
        source = self.sources.get(page.file.src_uri)
        repo_path, text = self.where
        self.links.set_page("", "", "")
        self.where = ("", "")

        def report(attribute: str, raw: str, reason: str) -> None:
            line = find_link(text, raw, html.unescape(raw))
            log.warning("%s:%d: %s", repo_path, line, describe(attribute, raw, reason))

        content = check_urls(content, report)
        return content if source is None else self._literate_content(content, page, files, source)

    def _literate_content(self, content: str, page: Page, files: Files, source: Source) -> str:
        try:
            body = assemble(source.doc, content)
        except LayoutError as error:
            section = source.doc.sections[error.section] if error.section is not None else None
            line = section.numbers[0] if section else 1
            raise PluginError(f"{source.repo_path}:{line}: {error}") from error
        raw = files.get_file_from_path(source.repo_path)
        link = (f'<p class="lp-source">Source: <a href="{get_relative_url(raw.url, page.file.url)}">'
                f"<code>{html.escape(source.repo_path)}</code></a></p>")
        body = body.replace("</h1>", f"</h1>{link}", 1) if "</h1>" in body else link + body
        results = self.results.get(page.file.src_uri)
        if results is not None:
            body += results_html(results, self._figure_url(source, page, files))
        if page.present_anchor_ids is not None:  # the code lines' ids, for links like `#L12`
            page.present_anchor_ids.update(f"L{line.number}" for s in source.doc.sections for line in s.code)
        return body

    # The URL of a results figure for the results block, or None when the prose already shows it.
    def _figure_url(self, source: Source, page: Page, files: Files) -> Callable[[str], str | None]:
        targets = filter(is_relative, link_targets(source.prose))
        shown = {resolve(source.repo_path, target) for target in targets}
        folder = source.results_path.rpartition("/")[0]

        def url(name: str) -> str | None:
            path = f"{folder}/{name}"
            file = files.get_file_from_path(path)
            return None if path in shown or file is None else get_relative_url(file.url, page.file.url)

        return url

    def _origin(self, page: Page, source: Source | None) -> str:
        return source.repo_path if source is not None else self._repo_path(page.file)

    # A page's source text, where messages find their line numbers.
    @staticmethod
    def _text(page: Page, source: Source | None) -> str:
        if source is not None:
            return source.text
        path = page.file.abs_src_path
        return Path(path).read_text(encoding="utf-8") if path else page.file.content_string

    # The finished page gets its math and, for a Python file, its code columns: both after the search has
    # indexed the page, which then holds the prose and the TeX, not thousands of tags.
    def post_page(self, output: str, page: Page) -> str:
        source = self.sources.get(page.file.src_uri)
        text = prose_view(source.doc) if source is not None else self._text(page, None)

        def report(tex: str, error: str) -> None:
            log.warning("%s:%d: math error: %s", self._origin(page, source), find_line(text, tex), error)

        try:
            output = self.katex.render_page(output, report)
        except MathUnavailable as error:
            raise PluginError(str(error)) from error
        return output if source is None else fill_code(output, source.doc)

    def post_build(self) -> None:
        self.katex.close()
        catalog.save_parse_cache(self.root / CACHE / "parsed.pickle")
