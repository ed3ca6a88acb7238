"""The built site in headless Chromium, as a reader sees it.

The site is built with `mkdocs build --strict` into a temporary folder and served on 127.0.0.1 (a free port,
Python's `http.server` in a thread). Chromium is Debian's (`scripts/ensure_chromium.py` installs it), driven
through Playwright's Python package with `executable_path`, so nothing is downloaded; Playwright starts it
headless, without sandbox, with a fresh profile, and `FLAGS` turn off the GPU, QUIC and background traffic.

Every page is opened at desktop width (1280 px): it loads with no failed or off-machine request and no
console error, all its math is rendered by KaTeX with KaTeX's fonts, and each section's prose sits left of
its code. A sample of pages is opened at phone width (390 px), where prose and code are stacked. Search and
the dark palette are tried once. Screenshots go to build/screenshots/.

Without Chromium the test is skipped, except in CI (`CI=true`), where it fails. `SITE_TEST_REPO` names
another checkout to build instead of this one.
"""
from __future__ import annotations

import functools
import os
import re
import shutil
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Iterator
from urllib.parse import urlsplit

import pytest
from ensure_chromium import find_chromium
from playwright.sync_api import Browser, Page, Request, sync_playwright
from sitebuild import REPO, build

pytestmark = pytest.mark.browser

DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
FLAGS = ["--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]
SCREENSHOTS = REPO / "build" / "screenshots"
PHONE_SAMPLE = 4

# What a page reports about itself: its math, and the boxes of each section's two columns.
MATH_JS = """() => {
  const math = [...document.querySelectorAll('.katex')];
  const prose = [...document.querySelectorAll('.lp-prose, .md-typeset > p, .md-typeset li')];
  return {
    count: math.length,
    errors: document.querySelectorAll('.katex-error').length,
    placeholders: document.querySelectorAll('.lp-math').length,
    empty: math.filter(e => { const r = e.getBoundingClientRect(); return !r.width || !r.height; }).length,
    fonts: math.length === 0 || document.fonts.check('16px KaTeX_Main'),
    rawDisplay: prose.filter(e => e.innerText.includes('$$')).length,
  };
}"""
SECTIONS_JS = """() => [...document.querySelectorAll('.lp-section')].map(section => {
  const box = e => { const r = e.getBoundingClientRect(); return {left: r.left, right: r.right, top: r.top,
                                                                 bottom: r.bottom, width: r.width}; };
  const prose = section.querySelector('.lp-prose'), code = section.querySelector('.lp-code');
  return {prose: box(prose), code: box(code), hasProse: prose.innerHTML.trim() !== '',
          hasCode: code.innerHTML.trim() !== ''};
})"""


# ## The site, served
@pytest.fixture(name="chromium", scope="module")
def fixture_chromium() -> str:
    found = find_chromium()
    if found is None:
        message = "no Chromium found: run `python scripts/ensure_chromium.py` (or set CHROMIUM to its path)"
        if os.environ.get("CI", "").lower() in ("true", "1"):
            pytest.fail(message)
        pytest.skip(message)
    return found


@pytest.fixture(name="site", scope="module")
def fixture_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    site_dir = tmp_path_factory.mktemp("site")
    result = build(Path(os.environ.get("SITE_TEST_REPO", REPO)), site_dir)
    assert result.returncode == 0, f"mkdocs build --strict failed:\n{result.stderr[-4000:]}"
    return site_dir


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # pylint: disable=redefined-builtin
        pass


@pytest.fixture(name="base_url", scope="module")
def fixture_base_url(site: Path) -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(site)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


@pytest.fixture(name="browser", scope="module")
def fixture_browser(chromium: str) -> Iterator[Browser]:
    shutil.rmtree(SCREENSHOTS, ignore_errors=True)  # this run's pictures only
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium, args=FLAGS, chromium_sandbox=False)
        yield launched
        launched.close()


def site_pages(site: Path) -> list[str]:
    pages = sorted(path.parent.relative_to(site).as_posix() for path in site.rglob("index.html"))
    return ["" if page == "." else f"{page}/" for page in pages]


# ## Watching a page
#
# Everything that goes wrong while a page loads: console errors, uncaught exceptions, failed requests,
# HTTP errors, and any request that leaves 127.0.0.1. Requests still running (the search worker's) are
# awaited before the next page, whose navigation would otherwise abort them.
class Watch:
    def __init__(self, page: Page) -> None:
        self.page = page
        self.problems: list[str] = []
        self.pending: set[Request] = set()
        page.on("request", lambda request: self.pending.add(request))  # pylint: disable=unnecessary-lambda
        page.on("requestfinished", lambda request: self.pending.discard(request))  # pylint: disable=unnecessary-lambda
        page.on("requestfailed", lambda request: self.pending.discard(request))  # pylint: disable=unnecessary-lambda
        page.on("console", lambda message: message.type == "error" and self.problems.append(
            f"console error: {message.text}"))
        page.on("pageerror", lambda error: self.problems.append(f"exception: {error}"))
        page.on("requestfailed", lambda request: self.problems.append(
            f"failed request: {request.url} ({request.failure})"))
        page.on("response", lambda response: response.status >= 400 and self.problems.append(
            f"HTTP {response.status}: {response.url}"))
        page.on("request", self._local_only)

    def _local_only(self, request: Request) -> None:
        parts = urlsplit(request.url)
        if parts.scheme not in ("data", "blob", "about") and parts.hostname != "127.0.0.1":
            self.problems.append(f"request off the machine: {request.url}")

    def take(self) -> list[str]:
        for _ in range(250):
            if not self.pending:
                break
            self.page.wait_for_timeout(20)
        problems, self.problems = self.problems, []
        return problems + [f"request never finished: {request.url}" for request in self.pending]


def open_page(page: Page, watch: Watch, url: str, idle: bool = False) -> list[str]:
    response = page.goto(url, wait_until="networkidle" if idle else "load")
    page.evaluate("document.fonts.ready.then(() => true)")
    problems = watch.take()
    if response is None or not response.ok:
        problems.append(f"status {response.status if response else 'none'}")
    math = page.evaluate(MATH_JS)
    if math["errors"] or math["placeholders"] or math["empty"] or not math["fonts"] or math["rawDisplay"]:
        problems.append(f"math not rendered: {math}")
    return problems


def screenshot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=False)


def shot_name(path: str, width: int) -> str:
    return f"{re.sub(r'[^A-Za-z0-9]+', '-', path).strip('-') or 'home'}-{width}"


# ## The tests
def test_every_page_loads_cleanly_with_prose_left_of_code(browser: Browser, site: Path, base_url: str) -> None:
    page = browser.new_page(viewport=DESKTOP)
    watch = Watch(page)
    failures = {}
    literate = []
    paths = site_pages(site)
    pictured = ["", "tracker/", *paper_sample(paths)[:1]]
    for path in paths:
        problems = open_page(page, watch, base_url + path)
        sections = page.evaluate(SECTIONS_JS)
        if sections:
            literate.append(path)
            problems += side_by_side_problems(sections)
        if problems:
            failures[path] = problems
        if path in pictured:
            screenshot(page, shot_name(path, DESKTOP["width"]))
    page.close()
    assert not failures, "\n".join(f"{path}: {problems}" for path, problems in failures.items())
    assert literate, "no literate page was found"


def side_by_side_problems(sections: list[dict]) -> list[str]:
    problems = []
    for index, section in enumerate(sections):
        prose, code = section["prose"], section["code"]
        if prose["right"] > code["left"] + 1 or abs(prose["top"] - code["top"]) > 1:
            problems.append(f"section {index}: prose {prose} is not left of code {code}")
        if code["width"] < 300:
            problems.append(f"section {index}: code column only {code['width']:.0f} px wide")
    return problems


def test_phone_width_stacks_prose_above_code(browser: Browser, site: Path, base_url: str) -> None:
    paths = site_pages(site)
    sample = [path for path in ("", "tracker/") if path in paths] + paper_sample(paths)[:PHONE_SAMPLE]
    page = browser.new_page(viewport=PHONE, is_mobile=True, has_touch=True)
    watch = Watch(page)
    failures = {}
    for path in sample:
        problems = open_page(page, watch, base_url + path, idle=True)
        problems += stacked_problems(page.evaluate(SECTIONS_JS))
        overflow = page.evaluate("document.documentElement.scrollWidth")
        if overflow > PHONE["width"] + 1:
            problems.append(f"the page is {overflow} px wide")
        if problems:
            failures[path] = problems
        screenshot(page, shot_name(path, PHONE["width"]))
        if page.locator(".lp-code .highlight").count():  # and where the first code sits under its prose
            page.locator(".lp-code .highlight").first.scroll_into_view_if_needed()
            screenshot(page, shot_name(path, PHONE["width"]) + "-code")
    page.close()
    assert not failures, "\n".join(f"{path}: {problems}" for path, problems in failures.items())


# One page from each folder of papers/, the kit last.
def paper_sample(paths: list[str]) -> list[str]:
    by_folder: dict[str, str] = {}
    for path in paths:
        if path.startswith("papers/") and path.count("/") >= 3:
            by_folder.setdefault(path.rsplit("/", 2)[0], path)
    return [by_folder[folder] for folder in sorted(by_folder, key=lambda f: (f.endswith("/kit"), f))]


def stacked_problems(sections: list[dict]) -> list[str]:
    problems = []
    for index, section in enumerate(sections):
        prose, code = section["prose"], section["code"]
        if section["hasProse"] and section["hasCode"] and (
                prose["bottom"] > code["top"] + 1 or abs(prose["left"] - code["left"]) > 1):
            problems.append(f"section {index}: prose {prose} is not above code {code}")
    return problems


def test_search_finds_prose_and_dark_palette_toggles(browser: Browser, site: Path, base_url: str) -> None:
    page = browser.new_page(viewport=DESKTOP)
    watch = Watch(page)
    paper = paper_sample(site_pages(site))[0]
    open_page(page, watch, base_url + paper)
    words = re.findall(r"[A-Za-z]{9,}", page.inner_text(".lp-prose p:not(.lp-source) >> nth=0"))
    assert words, f"no long word in the first paragraph of {paper}"
    page.click(".md-search__input")
    page.locator(".md-search__input").press_sequentially(words[0], delay=20)
    page.wait_for_selector(".md-search-result__item", timeout=15_000)
    links = page.eval_on_selector_all(".md-search-result__link", "links => links.map(a => a.href)")
    assert any(paper in link for link in links), (words[0], links)
    page.keyboard.press("Escape")
    scheme = page.evaluate("document.body.getAttribute('data-md-color-scheme')")
    page.click("form[data-md-component=palette] label:visible")
    toggled = page.evaluate("document.body.getAttribute('data-md-color-scheme')")
    assert {scheme, toggled} == {"default", "slate"}
    screenshot(page, shot_name(paper, DESKTOP["width"]) + "-" + toggled)
    assert not watch.take()
    page.close()
