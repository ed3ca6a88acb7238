"""Relative links in prose, written as they work on a clone of the repository, made to work on the site.

Authors link files by their place in the repository: `[the kit](../kit/experiment.py)` from a paper,
`papers/transformers/attention.py` from `tracker.md`, `![figure](results/attention.png)`. On the site a file
that became a page is reached through its page (`experiment.py` is the page `experiment.md`), a file in
`docs/` sits at the root, and any other repository file a page links to (a figure, a script) is copied into
the site at its own path. A link to a file that does not exist is reported as `file:line: broken link ...`,
a warning that fails `mkdocs build --strict`. MkDocs's own warnings about a page's links (a missing anchor,
say) are rewritten to name the file and line too, not the generated `.md`.
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

from .locate import find_link
from .safety import browser_url, describe, problem

log = logging.getLogger("mkdocs.literate")

# Link targets in Markdown text: inline links and images, reference definitions, and HTML attributes.
# Used only to find files to copy into the site; the links themselves are rewritten on the parsed tree.
TARGETS = re.compile(r"\]\(\s*<?([^)\s>]+)"  # [text](target) and ![alt](target)
                     r"|^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)"  # [name]: target
                     r"|(?:src|href)=\"([^\"]+)\"", re.MULTILINE)
# Folders whose files are never copied into the site.
PRIVATE_PARTS = {".git", ".venv", "node_modules", "site", "build", "logs", "data", ".cache", "__pycache__"}


def is_relative(target: str) -> bool:
    parts = urlsplit(browser_url(target))  # `jav&#x61;script:` has a scheme for a browser, so it has one here
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


# ## The map from repository paths to the site
#
# `site_uris` maps a repository path to its file on the site (a page's `.md` or a copied file); `page_*`
# describe the page being converted, set by the hook before each page's Markdown is converted (`page_text`:
# the text where its lines are found, a Python file's prose alone).
@dataclass
class LinkMap:
    root: Path
    site_uris: dict[str, str] = field(default_factory=dict)
    page_repo_path: str = ""
    page_src_uri: str = ""
    page_text: str = ""

    def set_page(self, repo_path: str, src_uri: str, text: str) -> None:
        self.page_repo_path, self.page_src_uri, self.page_text = repo_path, src_uri, text

    # The rewritten target of one link, or the target unchanged (with a warning when it is broken). A URL that
    # runs script or fetches from another machine (safety.py) is reported and emptied.
    def rewrite(self, target: str, attribute: str = "href") -> str:
        reason = problem(attribute, target)
        if reason is not None:
            log.warning("%s:%d: %s", self.page_repo_path, find_link(self.page_text, target), describe(
                attribute, target, reason))
            return ""
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
        duplicate = (self.page_src_uri, target)
        if duplicate in MKDOCS_DUPLICATES.reported:
            return  # the same link again on this page
        MKDOCS_DUPLICATES.reported.add(duplicate)
        where = f"{self.page_repo_path}:{find_link(self.page_text, target)}"
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


# MkDocs's warnings about a page's links. One about a broken link that we have already reported with its line
# is dropped; any other names the page's source file and the line of the link (`papers/a.py:12: contains a
# link '#x', but there is no such anchor on this page.`) instead of the generated `papers/a.md`. `pages` maps
# a page's `src_uri` to its repository path and the text its lines are found in.
DOC_FILE = re.compile(r"^Doc file '([^']+)' "
                      r"(contains (?:a|an absolute|an unrecognized relative) link (?:to )?'([^']*)'.*)", re.DOTALL)


class _MkDocsWarnings(logging.Filter):
    def __init__(self) -> None:
        super().__init__()
        self.reported: set[tuple[str, str]] = set()  # (page src_uri, link target)
        self.pages: dict[str, tuple[str, str]] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        match = DOC_FILE.match(record.getMessage())
        if match and (match.group(1), match.group(3)) in self.reported:
            return False
        if match and match.group(1) in self.pages:
            repo_path, text = self.pages[match.group(1)]
            record.msg, record.args = f"{repo_path}:{find_link(text, match.group(3))}: {match.group(2)}", ()
        return True

    def clear(self) -> None:
        self.reported.clear()
        self.pages.clear()


MKDOCS_DUPLICATES = _MkDocsWarnings()
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
                    element.set(attribute, self.links.rewrite(value, attribute))


class RepositoryLinks(Extension):
    def __init__(self, links: LinkMap) -> None:
        super().__init__()
        self.links = links

    def extendMarkdown(self, md: Markdown) -> None:
        md.treeprocessors.register(_RewriteLinks(md, self.links), "literate_links", 1)
