"""Relative links in prose, written as they work on a clone of the repository, made to work on the site.

Authors link files by their place in the repository: `[the kit](../kit/experiment.py)` from a paper,
`papers/transformers/attention.py` from `tracker.md`, `![figure](results/attention.png)`. On the site a file
that became a page is reached through its page (`experiment.py` is the page `experiment.md`), a file in
`docs/` sits at the root, and any other repository file a page links to (a figure, a script) is copied into
the site at its own path. A link to a file that does not exist is reported as `file:line: broken link ...`,
a warning that fails `mkdocs build --strict`.
"""
from __future__ import annotations

import logging
import posixpath
import re
import xml.etree.ElementTree as etree
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlsplit, urlunsplit

from markdown import Extension, Markdown
from markdown.treeprocessors import Treeprocessor

log = logging.getLogger("mkdocs.literate")

# Link targets in Markdown text: inline links and images, reference definitions, and HTML attributes.
# Used only to find files to copy into the site; the links themselves are rewritten on the parsed tree.
TARGETS = re.compile(r"\]\(\s*<?([^)\s>]+)"  # [text](target) and ![alt](target)
                     r"|^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)"  # [name]: target
                     r"|(?:src|href)=\"([^\"]+)\"", re.MULTILINE)
# Folders whose files are never copied into the site.
PRIVATE_PARTS = {".git", ".venv", "node_modules", "site", "build", "logs", "data", ".cache", "__pycache__"}


def is_relative(target: str) -> bool:
    parts = urlsplit(target)
    return not (parts.scheme or parts.netloc or target.startswith(("/", "\\", "#")) or not parts.path)


# The repository path a relative link target points to, from the file `source` (a repository path), or
# `None` when it leaves the repository.
def resolve(source: str, target: str) -> str | None:
    path = unquote(urlsplit(target).path)
    joined = posixpath.normpath(posixpath.join(posixpath.dirname(source), path))
    return None if joined == ".." or joined.startswith("../") or joined.startswith("/") else joined


def link_targets(markdown: str) -> set[str]:
    return {next(group for group in match.groups() if group) for match in TARGETS.finditer(markdown)}


def copyable(root: Path, repo_path: str) -> bool:
    parts = repo_path.split("/")
    return (not PRIVATE_PARTS.intersection(parts) and not any(part.startswith(".") for part in parts)
            and not repo_path.endswith((".md", ".markdown")) and (root / repo_path).is_file())


def line_of(text: str, needle: str) -> int:
    position = text.find(needle)
    return text.count("\n", 0, position) + 1 if position >= 0 else 1


# ## The map from repository paths to the site
#
# `site_uris` maps a repository path to its file on the site (a page's `.md` or a copied file); `page_*`
# describe the page being converted, set by the hook before each page's Markdown is converted.
@dataclass
class LinkMap:
    root: Path
    site_uris: dict[str, str] = field(default_factory=dict)
    page_repo_path: str = ""
    page_src_uri: str = ""
    page_text: str = ""

    def set_page(self, repo_path: str, src_uri: str, text: str) -> None:
        self.page_repo_path, self.page_src_uri, self.page_text = repo_path, src_uri, text

    # The rewritten target of one link, or the target unchanged (with a warning when it is broken).
    def rewrite(self, target: str) -> str:
        if not self.page_repo_path or not is_relative(target):
            return target
        repo_path = resolve(self.page_repo_path, target)
        site_uri = self.site_uris.get(repo_path or "")
        if site_uri is None:
            self._report(target, repo_path)
            return target
        parts = urlsplit(target)
        relative = posixpath.relpath(site_uri, posixpath.dirname(self.page_src_uri) or ".")
        return urlunsplit(("", "", relative, parts.query, parts.fragment))

    def _report(self, target: str, repo_path: str | None) -> None:
        duplicate = f"Doc file '{self.page_src_uri}' contains a link '{target}'"
        if duplicate in MKDOCS_DUPLICATES.reported:
            return  # the same link again on this page
        MKDOCS_DUPLICATES.reported.add(duplicate)
        where = f"{self.page_repo_path}:{line_of(self.page_text, target)}"
        if repo_path is None:
            log.warning("%s: broken link '%s': it leaves the repository", where, target)
        elif (self.root / repo_path).is_dir():
            return  # a folder: MkDocs decides (an index page, or its own warning)
        elif (self.root / repo_path).exists():
            log.warning("%s: link '%s' points to %s, which is not part of the site", where, target, repo_path)
        else:
            log.warning("%s: broken link '%s': there is no file %s%s", where, target, repo_path,
                        self._suggestion(repo_path))

    # A link to `x.html` or `x` where `x.py` is a page: say so.
    def _suggestion(self, repo_path: str) -> str:
        stem = repo_path[:-len(".html")] if repo_path.endswith(".html") else repo_path
        page = f"{stem}.py"
        return f" (link the file itself: {posixpath.basename(page)})" if page in self.site_uris else ""


# MkDocs warns about the same broken link after us, without the line; its message is dropped.
class _DuplicateWarnings(logging.Filter):
    def __init__(self) -> None:
        super().__init__()
        self.reported: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not any(message.startswith(prefix) for prefix in self.reported)


MKDOCS_DUPLICATES = _DuplicateWarnings()
logging.getLogger("mkdocs.structure.pages").addFilter(MKDOCS_DUPLICATES)


# ## The Markdown extension
#
# A tree processor that runs before MkDocs's own link processing (priority 0), so MkDocs validates and
# converts the rewritten links as usual.
class _RewriteLinks(Treeprocessor):
    def __init__(self, md: Markdown, links: LinkMap) -> None:
        super().__init__(md)
        self.links = links

    def run(self, root: etree.Element) -> None:
        for element in root.iter():
            for attribute in ("href", "src"):
                value = element.get(attribute)
                if value is not None and element.tag in ("a", "img"):
                    element.set(attribute, self.links.rewrite(value))


class RepositoryLinks(Extension):
    def __init__(self, links: LinkMap) -> None:
        super().__init__()
        self.links = links

    def extendMarkdown(self, md: Markdown) -> None:
        md.treeprocessors.register(_RewriteLinks(md, self.links), "literate_links", 1)
