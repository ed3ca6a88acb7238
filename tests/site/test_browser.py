"""The built site in headless Chromium, as a reader sees it.

The site is built with `mkdocs build --strict` into a temporary folder and served on 127.0.0.1 (a free port,
Python's `http.server` in a thread). Chromium is Debian's (`scripts/ensure_chromium.py` installs it), driven
through Playwright's Python package with `executable_path`, so nothing is downloaded; Playwright starts it
headless, without sandbox, with a fresh profile, and `FLAGS` turn off the GPU, QUIC and background traffic.

Every page is opened at desktop width (1440 x 900) and at phone width (390 x 844). At both it loads with no
failed or off-machine request and no console error, all its math is rendered by KaTeX with KaTeX's fonts, it
has previous/next links, a link to the repository and one to its own file there, and its table of contents
shows no raw TeX. At 1440 px each section's prose sits left of its code, every code line up to 120 characters
is fully visible without scrolling, and figures are shown at their own size or the page's width; at 390 px
prose and code are stacked, the page is no wider than the screen, and code blocks scroll sideways inside
themselves (so may a wide table or displayed equation, inside its own box; nothing else does). Papers link their tests
and tests their papers. The home page shows every entry of `tracker.md`. Search finds code names (where they
are defined or used) and shows no raw TeX; a linked line (`#L12`) keeps its keywords readable; a figure opens
larger on click; the dark palette toggles. Screenshots go to build/screenshots/.

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
import yaml
from ensure_chromium import find_chromium
from literate.dashboard import parse_tracker
from playwright.sync_api import Browser, Page, Request, sync_playwright
from sitebuild import REPO, build

pytestmark = pytest.mark.browser

DESKTOP = {"width": 1440, "height": 900}
PHONE = {"width": 390, "height": 844}
FLAGS = ["--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]
SCREENSHOTS = REPO / "build" / "screenshots"
BUILT = Path(os.environ.get("SITE_TEST_REPO", REPO))  # the checkout whose site is built
LONGEST_LINE = 120  # the project's line length: such a line must show whole at 1440 px
# A name, and a result it must give: the definition's line, or a page whose code uses the name.
SEARCHED = {"masked_fill": "papers/transformers/attention/#L", "LSTMCell": "papers/seq2seq/pointer_networks/#L",
            "MultiHeadAttention": "papers/transformers/attention/#L",
            "scaled_dot_product_attention": "papers/transformers/attention/#L"}
RAW_TEX = re.compile(r"\\[A-Za-z]+|\$")

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
    result = build(BUILT, site_dir)
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


# What a reader sees of the code and figures, and the page's links (see the module docstring).
READING_JS = """(longest) => {
  const lines = [...document.querySelectorAll('.lp-line')];
  const cut = [];
  for (const line of lines) {
    if (line.textContent.replace(/\\n$/, '').length > longest) continue;
    const block = line.closest('pre > code');
    if (block.scrollWidth > block.clientWidth + 1 || line.scrollWidth > line.clientWidth + 1) cut.push(line.dataset.n);
  }
  const blocks = [...document.querySelectorAll('.lp-code pre > code')];
  const sideways = [...document.querySelectorAll('body *')].filter(e => {
    if (e.closest('pre, .katex-display, .md-typeset__scrollwrap, .md-sidebar, .md-search, .md-header')) return false;
    const style = getComputedStyle(e);
    return e.scrollWidth > e.clientWidth + 1 && ['auto', 'scroll'].includes(style.overflowX) && e.clientWidth > 0;
  }).map(e => e.tagName + '.' + e.className);
  const article = document.querySelector('.md-content__inner').getBoundingClientRect().width;
  const figures = [...document.querySelectorAll('.lp-page img, .lp-results img')].map(img => ({
    src: img.getAttribute('src'), natural: img.naturalWidth, shown: img.getBoundingClientRect().width}));
  const toc = [...document.querySelectorAll('.md-nav__link')].map(a => a.innerText).join('\\n');
  const link = sel => [...document.querySelectorAll(sel)].map(a => a.getAttribute('href'));
  return {cut, codeBlocks: blocks.length, unscrollable: blocks.filter(b => b.scrollWidth > b.clientWidth + 1
            && !['auto', 'scroll'].includes(getComputedStyle(b).overflowX)).length,
          sideways, pageWidth: document.documentElement.scrollWidth, article, figures, toc,
          footer: link('.md-footer__link'), repo: link('a.md-source'), edit: link('a.md-content__button'),
          header: link('.lp-source a')};
}"""


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
        page.on("requestfailed", self._failed)
        page.on("response", lambda response: response.status >= 400 and self.problems.append(
            f"HTTP {response.status}: {response.url}"))
        page.on("request", self._local_only)

    # Chromium cancels its own favicon fetch (`net::ERR_ABORTED`) when a page is left or resized while it runs:
    # a browser's choice, not a failure of the site, and seen once in four full runs on a busy machine.
    def _failed(self, request: Request) -> None:
        if request.url.endswith("/favicon.png") and request.failure == "net::ERR_ABORTED":
            return
        self.problems.append(f"failed request: {request.url} ({request.failure})")

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
def test_every_page_reads_well_at_desktop_and_phone_width(browser: Browser, site: Path, base_url: str) -> None:
    paths = site_pages(site)
    repo_url = str(yaml.safe_load((BUILT / "mkdocs.yml").read_text(encoding="utf-8"))["repo_url"])
    failures: dict[str, list[str]] = {}
    literate = []
    for viewport in (DESKTOP, PHONE):
        page = browser.new_page(viewport=viewport, is_mobile=viewport is PHONE, has_touch=viewport is PHONE)
        watch = Watch(page)
        pictured = ["", "tracker/", *paper_sample(paths)[:2]]
        for path in paths:
            problems = open_page(page, watch, base_url + path)
            sections = page.evaluate(SECTIONS_JS)
            reading = page.evaluate(READING_JS, LONGEST_LINE)
            problems += links_problems(reading, path, repo_url, paths)
            if viewport is DESKTOP:
                literate += [path] if sections else []
                problems += side_by_side_problems(sections) + desktop_problems(reading)
            else:
                problems += stacked_problems(sections) + phone_problems(reading)
            if problems:
                failures[f"{path} at {viewport['width']} px"] = problems
            if path in pictured:
                screenshot(page, shot_name(path, viewport["width"]))
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


# At 1440 px: no code line up to 120 characters cut off or behind a scrollbar, figures readable where they
# stand (at their own size, or as wide as the page allows, not squeezed into the prose column).
def desktop_problems(reading: dict) -> list[str]:
    problems = []
    if reading["cut"]:
        problems.append(f"code lines not fully visible: {reading['cut'][:10]} ({len(reading['cut'])} lines)")
    for figure in reading["figures"]:
        readable = min(figure["natural"], 0.9 * reading["article"])
        if figure["natural"] == 0 or figure["shown"] < readable - 1:
            problems.append(f"figure {figure['src']} shown {figure['shown']:.0f} px wide of {figure['natural']}")
    return problems


# At 390 px: the page is no wider than the screen, and what is wider (code) scrolls inside its own block.
def phone_problems(reading: dict) -> list[str]:
    problems = []
    if reading["pageWidth"] > PHONE["width"] + 1:
        problems.append(f"the page is {reading['pageWidth']} px wide")
    if reading["unscrollable"]:
        problems.append(f"{reading['unscrollable']} code blocks are wider than the screen and do not scroll")
    if reading["sideways"]:
        problems.append(f"elements other than code scroll sideways: {reading['sideways'][:5]}")
    return problems


# Previous/next links, the repository and the page's own file there, no raw TeX in the table of contents,
# and a paper's link to its tests (a test page's to its paper).
def links_problems(reading: dict, path: str, repo_url: str, paths: list[str]) -> list[str]:
    problems = []
    if not reading["footer"]:
        problems.append("no previous/next link")
    if repo_url not in reading["repo"]:
        problems.append(f"no link to the repository {repo_url}: {reading['repo']}")
    own = own_file(path)
    if not any(href.startswith(repo_url) and href.endswith(own) for href in reading["edit"]):
        problems.append(f"no link to {own} in the repository: {reading['edit']}")
    if RAW_TEX.search(reading["toc"]):
        problems.append(f"raw TeX in the table of contents: {RAW_TEX.findall(reading['toc'])[:5]}")
    other = "tests/" if path.startswith("papers/") and paired_test_page(path) in paths else \
        "papers/" if path.startswith("tests/") else None
    if other and not any(other in href for href in reading["header"][1:]):  # [0] is the source file
        problems.append(f"the header does not link its {other.rstrip('/')} page: {reading['header']}")
    return problems


# The repository file a page is made from: `papers/rnn/lstm/` is `papers/rnn/lstm.py`, the home page is
# `docs/index.md`, the tracker `tracker.md`.
def own_file(path: str) -> str:
    if path == "":
        return "docs/index.md"
    if path == "tracker/":
        return "tracker.md"
    stem = path.rstrip("/")
    return f"{stem}.py" if (BUILT / f"{stem}.py").is_file() else f"{stem}/__init__.py"


def paired_test_page(path: str) -> str:
    folder, _, name = path.rstrip("/").removeprefix("papers/").rpartition("/")
    return f"tests/{folder}/test_{name}/"


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


def test_home_page_shows_every_tracker_entry(browser: Browser, base_url: str) -> None:
    sections = parse_tracker((BUILT / "tracker.md").read_text(encoding="utf-8"))
    entries = [entry for section in sections for entry in section.entries]
    page = browser.new_page(viewport=DESKTOP)
    watch = Watch(page)
    assert not open_page(page, watch, base_url, idle=True)
    page.evaluate("document.querySelectorAll('.lp-card img').forEach(img => { img.loading = 'eager'; })")
    cards = page.evaluate("""() => [...document.querySelectorAll('.lp-card')].map(card => ({
        title: card.querySelector('.lp-card-title').innerText,
        verdict: (card.querySelector('.lp-verdict') || {}).innerText,
        links: [...card.querySelectorAll('.lp-card-links a')].map(a => a.getAttribute('href'))}))""")
    todo = page.eval_on_selector_all(".lp-todo li", "items => items.map(li => li.innerText)")
    assert len(cards) == sum(entry.done for entry in entries)
    assert len(todo) == sum(not entry.done for entry in entries)
    for card in cards:
        assert card["verdict"] in ("held", "held weakly", "not held"), card
        assert card["links"] and card["links"][0].startswith("papers/"), card
    page.wait_for_function("[...document.querySelectorAll('.lp-card img')].every(i => i.complete && i.naturalWidth)")
    progress = page.locator(".lp-progress").count()
    assert progress >= len([s for s in sections if s.entries]), "a section of the tracker has no progress bar"
    screenshot(page, "home-dashboard-1440")
    assert not watch.take()
    page.close()


def test_search_finds_code_names_and_shows_no_raw_tex(browser: Browser, base_url: str) -> None:
    page = browser.new_page(viewport=DESKTOP)
    watch = Watch(page)
    open_page(page, watch, base_url)
    for name, expected in SEARCHED.items():
        links, text = search(page, name)
        assert any(expected in link for link in links), (name, links)
        assert not RAW_TEX.search(text), (name, RAW_TEX.findall(text))
    links, text = search(page, "softmax")  # prose full of formulas
    assert links and not RAW_TEX.search(text), RAW_TEX.findall(text)
    source = (BUILT / "papers/transformers/attention.py").read_text(encoding="utf-8").splitlines()
    line = next(n for n, text in enumerate(source, 1) if text.startswith("class MultiHeadAttention"))
    target = f"papers/transformers/attention/#L{line}"
    assert any(link.endswith(target) for link in search(page, "MultiHeadAttention")[0]), target
    page.goto(base_url + target)
    assert "class MultiHeadAttention" in page.inner_text(".lp-line:target")
    assert not watch.take()
    page.close()


def search(page: Page, query: str) -> tuple[list[str], str]:
    page.click(".md-search__input")
    page.fill(".md-search__input", "")
    page.locator(".md-search__input").press_sequentially(query, delay=10)
    page.wait_for_selector(".md-search-result__item", timeout=15_000)
    page.wait_for_timeout(200)
    links = page.eval_on_selector_all(".md-search-result__link", "links => links.map(a => a.href)")
    links = [re.sub(r"\?h=[^#]*", "", link) for link in links]  # the highlight parameter
    text = page.inner_text(".md-search-result")
    page.keyboard.press("Escape")
    return links, text


# A linked line is tinted, and its keywords keep a readable contrast (3:1, WCAG's figure for large text and
# graphics) against the tint; a figure opens larger on click; the palette toggles.
CONTRAST_JS = """() => {
  const rgb = c => c.match(/[\\d.]+/g).map(Number);
  const line = document.querySelector('.lp-line:target'), word = line.querySelector('.k, .kn, .kc');
  const base = rgb(getComputedStyle(line.closest('pre > code')).backgroundColor);
  const tint = rgb(getComputedStyle(line).backgroundColor), alpha = tint.length > 3 ? tint[3] : 1;
  const bg = [0, 1, 2].map(i => tint[i] * alpha + base[i] * (1 - alpha));
  const lum = c => { const l = c.slice(0, 3).map(v => { v /= 255;
    return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; });
    return 0.2126 * l[0] + 0.7152 * l[1] + 0.0722 * l[2]; };
  const a = lum(rgb(getComputedStyle(word).color)), b = lum(bg);
  return (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
}"""


def test_linked_line_figure_and_dark_palette(browser: Browser, base_url: str) -> None:
    page = browser.new_page(viewport=DESKTOP)
    watch = Watch(page)
    paper = "papers/transformers/attention/"
    open_page(page, watch, base_url + paper)
    number = page.eval_on_selector(".lp-line:has(.k)", "line => line.dataset.n")
    for _ in range(2):  # both palettes
        open_page(page, watch, f"{base_url}{paper}#L{number}")
        assert page.evaluate(CONTRAST_JS) >= 3
        scheme = page.evaluate("document.body.getAttribute('data-md-color-scheme')")
        page.click("form[data-md-component=palette] label:visible")
        toggled = page.evaluate("document.body.getAttribute('data-md-color-scheme')")
        assert {scheme, toggled} == {"default", "slate"}
    screenshot(page, shot_name(paper, DESKTOP["width"]) + "-line")
    figure = page.locator(".lp-page .lp-figure img").first
    shown = figure.bounding_box()["width"]
    figure.click()
    page.wait_for_selector(".gslide-image img", state="visible", timeout=10_000)
    page.wait_for_timeout(600)  # the opening animation
    opened = page.locator(".gslide-image img").first.bounding_box()["width"]
    natural = figure.evaluate("img => img.naturalWidth")
    assert opened >= min(natural, DESKTOP["width"] * 0.9) - 2 and opened >= shown, (shown, opened, natural)
    screenshot(page, shot_name(paper, DESKTOP["width"]) + "-figure")
    assert not watch.take()
    page.close()
