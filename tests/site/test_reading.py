r"""What a reader finds around the pages: code and plain-text math in the search, math in the table of contents,
figures across both columns and opening on click, every page in the menu with previous/next links, papers and
tests linking each other, each page's own file in the repository, and the home page's dashboard of the tracker
(scripts/literate/reading.py, dashboard.py, catalog.py, layout.py). The parts are tested alone, then in one
small site built with the project's mkdocs.yml; test_browser.py measures the same on the real site.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from literate import dashboard, reading
from literate.catalog import Catalog, Source, navigation, paper_test_pairs
from literate.layout import split_figures
from literate.parse import parse_source
from sitebuild import build, site_repo, write

RAW_TEX = re.compile(r"\\[A-Za-z]+|\$")


# ## The parts
def test_plain_math_has_no_tex_left() -> None:
    assert reading.plain_math(r"\alpha_t \cdot \frac{a}{\sqrt{d_k}}") == "α_t · (a)/(√d_k)"
    assert reading.plain_math(r"\operatorname{softmax}\left(\frac{QK^\top}{\sqrt{d}}\right) V") == \
        "softmax((QK^⊤)/(√d)) V"
    assert not RAW_TEX.search(reading.plain_math(r"\begin{align} a &= \hat{v}_t \\ b \end{align}"))


def test_search_sees_plain_math_and_the_page_keeps_the_placeholder() -> None:
    content = '<p>Scale by <span class="lp-math" data-display="0">\\frac{1}{\\sqrt{d}}</span>.</p>'
    indexed = reading.searchable_math(content)
    assert 'data-search-exclude="math"' in indexed and '<span class="lp-search-only">(1)/(√d)</span>' in indexed
    assert reading.strip_search_only(indexed).count("lp-math") == 1
    assert "lp-search-only" not in reading.strip_search_only(indexed)


def test_search_block_has_each_definition_at_its_line_and_the_names_it_uses() -> None:
    source = ("import torch\n\n\nclass Attention:\n    def forward(self, x):\n"
              "        return x.masked_fill(x > 0, 0)\n\n\nCELL = torch.nn.LSTMCell(2, 3)\n")
    block = reading.search_block(source, "Demo")
    assert '<h6 id="L4">Attention</h6>' in block and '<h6 id="L5">Attention.forward</h6>' in block
    assert "masked_fill" in block and "LSTMCell" in block and "Demo: module code" in block
    assert reading.strip_search_only(f"<p>a</p>{block}<p>b</p>") == "<p>a</p><p>b</p>"
    assert not reading.search_block("def broken(:\n", "Demo")


def test_figure_paragraphs_leave_the_prose() -> None:
    prose = ('<p>Text.</p><p><a class="glightbox" href="f.png"><img src="f.png" alt="f"></a></p>'
             '<p>More <img src="icon.png" alt="i"> inline.</p>')
    kept, figures = split_figures(prose)
    assert kept == '<p>Text.</p><p>More <img src="icon.png" alt="i"> inline.</p>'
    assert figures == '<p class="lp-figure"><a class="glightbox" href="f.png"><img src="f.png" alt="f"></a></p>'


def test_tracker_pairs_and_the_naming_convention_pair_papers_with_tests() -> None:
    pages = {"papers/a/x.py", "tests/a/test_x.py", "papers/a/y.py", "tests/b/check_y.py"}
    tracker = "- [x] Y (2020): [page](papers/a/y.py) · [tests](tests/b/check_y.py)\n"
    assert paper_test_pairs(tracker, pages) == [("papers/a/y.py", "tests/b/check_y.py"),
                                                ("papers/a/x.py", "tests/a/test_x.py")]
    assert reading.related_links([("p.py", "t.py")], "t.py") == ("Tests of", ["p.py"])


def test_navigation_has_every_test_page_under_tests() -> None:
    def source(path: str, text: str = '"""Doc."""\n') -> Source:
        return Source(path, path[:-3] + ".md", parse_source(path, text), text)

    paper = source("papers/a/x.py", '"""\n---\ntitle: Paper X\nnav: X\n---\n"""\n')
    found = Catalog([paper, source("tests/a/test_x.py"), source("tests/a/test_x_more.py")], {}, None,
                    [(paper.repo_path, "tests/a/test_x.py"), (paper.repo_path, "tests/a/test_x_more.py")])
    nav = navigation(found, ["index.md"], has_tracker=False)
    assert nav[-1] == {"Tests": [{"A": [{"X: X": "tests/a/test_x.md"}, {"X: X more": "tests/a/test_x_more.md"}]}]}


TRACKER = """# Tracker

## Part A: list

- [x] **A1** Paper One (Someone, 2015, arXiv:1): [page](papers/demo/paper.py) · [tests](tests/demo/test_paper.py) · note: held weakly: only at small scale
- [ ] **A2** Paper Two (Other, 2016)

## Part B: more

### Area

- [ ] Paper Three <b>bold</b> (2017)
"""


def test_dashboard_shows_every_entry_and_reads_the_verdict() -> None:
    sections = dashboard.parse_tracker(TRACKER)
    entries = [entry for section in sections for entry in section.entries]
    assert [(e.key, e.done) for e in entries] == [("A1", True), ("A2", False), ("", False)]
    assert dashboard.verdict(entries[0]) == "held weakly"
    assert dashboard.verdict(dashboard.Entry("", "t", True, note="not held: 3 seeds")) == "not held"
    assert dashboard.verdict(dashboard.Entry("", "t", True, note="held: 3 seeds")) == "held"
    assert dashboard.verdict(dashboard.Entry("", "t", True, note="it held")) == ""
    assert dashboard.verdict(dashboard.Entry("", "t", False, note="held: 3 seeds")) == ""
    assert dashboard.split_citation("Title (A, 2015, arXiv:1)") == ("Title", "A, 2015, arXiv:1")
    markdown = dashboard.dashboard(sections, dashboard.Context(Path("/nonexistent"), {}, "../"))
    assert markdown.count('class="lp-card"') == 1 and markdown.count("<li>") == 2
    assert "&lt;b&gt;bold&lt;/b&gt;" in markdown and "<b>" not in markdown


# ## One small site
PAPER = r'''"""
---
title: A Demo Paper
summary: 'A "quoted" word"><script>alert(1)</script>'
---
"""
import torch

# ## Scaling by $\sqrt{d_k}$
#
# Divide by $\sqrt{d_k}$ before the softmax.
#
# ![The figure](results/paper.png)


class Scaler(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.masked_fill(x > 100, 0.0) / 2
'''
TEST = '''"""Tests of the demo."""
from papers.demo.paper import Scaler


def test_scaler():
    assert Scaler()
'''
PNG = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000"
                    "1f15c4890000000d49444154789c6360000002000100e221bc330000000049454e44ae426082")


@pytest.fixture(name="reading_site", scope="module")
def fixture_reading_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = site_repo(tmp_path_factory.mktemp("reading"))
    write(root, {"papers/__init__.py": "", "papers/demo/__init__.py": '"""Demonstrations."""\n',
                 "papers/demo/paper.py": PAPER, "tests/demo/test_paper.py": TEST, "tracker.md": TRACKER})
    (root / "papers/demo/results").mkdir()
    (root / "papers/demo/results/paper.png").write_bytes(PNG)
    (root / "papers/demo/results/paper.json").write_text(
        json.dumps({"headline": "Halves it.", "figures": ["paper.png"]}), encoding="utf-8")
    result = build(root)
    assert result.returncode == 0, result.stderr
    return root


def built(root: Path, page: str) -> str:
    return (root / "site" / page / "index.html").read_text(encoding="utf-8")


def test_paper_page_links_tests_repository_and_has_footer(reading_site: Path) -> None:
    paper, tests = built(reading_site, "papers/demo/paper"), built(reading_site, "tests/demo/test_paper")
    assert 'Tests: <a href="../../../tests/demo/test_paper/">' in paper
    assert 'Tests of: <a href="../../../papers/demo/paper/">' in tests
    assert 'href="https://git.example.org/annotated-papers/edit/main/papers/demo/paper.py"' in paper
    assert 'href="https://git.example.org/annotated-papers/edit/main/tests/demo/test_paper.py"' in tests
    assert 'href="https://git.example.org/annotated-papers/edit/main/docs/index.md"' in built(reading_site, "")
    assert 'data-md-component="source"' not in paper  # no request for the repository's statistics
    for page in ("", "tracker", "papers/demo/paper", "tests/demo/test_paper"):
        assert "md-footer__link" in built(reading_site, page), page


def test_figure_spans_both_columns_and_opens_on_click(reading_site: Path) -> None:
    paper = built(reading_site, "papers/demo/paper")
    assert re.search(r'<div class="lp-figures"><p class="lp-figure"><a class="glightbox" href="\.\./results/paper'
                     r'\.png"[^>]*><img', paper)
    assert "glightbox.min.js" in paper and (reading_site / "site/assets/javascripts/glightbox.min.js").is_file()


def test_toc_renders_math_and_search_has_code_without_tex(reading_site: Path) -> None:
    paper = built(reading_site, "papers/demo/paper")
    toc = re.search(r'<nav class="md-nav md-nav--secondary".*?</nav>', paper, re.DOTALL).group(0)
    assert 'class="katex"' in toc and "\\sqrt" not in re.sub(r"<annotation.*?</annotation>", "", toc)
    assert "lp-search" not in paper and "data-search-exclude" not in paper
    index = json.loads((reading_site / "site/search/search_index.json").read_text(encoding="utf-8"))["docs"]
    assert not [doc for doc in index if RAW_TEX.search(doc["title"] + doc["text"])]
    locations = {doc["title"]: doc["location"] for doc in index}
    assert locations["Scaler"] == "papers/demo/paper/#L16"
    assert locations["Scaler.forward"] == "papers/demo/paper/#L17"
    assert any("masked_fill" in doc["text"] for doc in index)


def test_home_page_is_the_dashboard_and_escapes_summaries(reading_site: Path) -> None:
    home = built(reading_site, "")
    assert home.count('class="lp-card"') == 1 and home.count("<li><span") + home.count("<li>Paper") == 2
    assert 'lp-verdict--held-weakly' in home and "Halves it." in home
    assert 'src="papers/demo/results/paper.png"' in home and 'href="tests/demo/test_paper/"' in home
    assert "<script>alert" not in home and "<script>alert" not in built(reading_site, "papers/demo/paper")
    assert "<strong>1/3</strong>" in home
