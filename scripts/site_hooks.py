"""MkDocs hooks (`hooks:` in mkdocs.yml) that render every Python file of the project as a literate page.

The work is done by the `literate` package beside this file; these functions only pass MkDocs's events on to
one [`LiterateSite`](literate/site.py) per build. MkDocs fixes their signatures, so some arguments go unused.
"""
# pylint: disable=unused-argument
from __future__ import annotations

from pathlib import Path

from jinja2 import Environment
from literate.site import LiterateSite
from mkdocs.config.defaults import MkDocsConfig
from mkdocs.livereload import LiveReloadServer
from mkdocs.structure.files import Files
from mkdocs.structure.pages import Page

# What `mkdocs serve` watches besides docs/ and mkdocs.yml: the pages come from these too.
WATCHED = ("papers", "tests", "tracker.md")

_builds: list[LiterateSite] = []


def _site() -> LiterateSite:
    if not _builds:
        raise RuntimeError("on_config has not run")
    return _builds[-1]


def on_config(config: MkDocsConfig) -> MkDocsConfig:
    _builds[:] = [LiterateSite(config)]
    return config


def on_files(files: Files, config: MkDocsConfig) -> Files:
    return _site().files(files, config)


def on_env(env: Environment, config: MkDocsConfig, files: Files) -> Environment:
    return _site().env(env)


def on_page_markdown(markdown: str, page: Page, config: MkDocsConfig, files: Files) -> str:
    return _site().markdown(markdown, page)


def on_page_content(html: str, page: Page, config: MkDocsConfig, files: Files) -> str:
    return _site().content(html, page, files)


def on_post_page(output: str, page: Page, config: MkDocsConfig) -> str:
    return _site().post_page(output, page)


def on_post_build(config: MkDocsConfig) -> None:
    _site().post_build()


# A failed build (a file that does not render, say) still stops its KaTeX process and keeps its caches.
def on_build_error(error: Exception) -> None:
    if _builds:
        _builds[-1].post_build()


def on_serve(server: LiveReloadServer, config: MkDocsConfig, builder) -> LiveReloadServer:
    root = Path(config.config_file_path).resolve().parent
    for name in WATCHED:
        if (root / name).exists():
            server.watch(str(root / name))
    return server
