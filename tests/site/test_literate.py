"""Tests of the literate renderer: the parser's rules, the invariant that no line is lost or shown twice, escaping,
math, links, the tracker's progress, and whole builds of small sites (including the ones that must fail)."""
from __future__ import annotations

import ast
import html
import json
import re
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
import lint_docstrings
from literate.layout import balance_html, code_html, split_prose
from literate.links import LinkMap, is_relative, link_targets, resolve
from literate.locate import find_line, find_link, prose_view
from literate.math import protect_markdown
from literate.parse import PRAGMA, Document, LiterateError, escape_problems, parse_source
from literate.progress import add_progress, progress
from literate.safety import check_urls, problem
from sitebuild import REPO, build, site_repo, write

TRICKY = sorted((Path(__file__).parent / "tricky").glob("*.py"))
PAPERS = sorted((REPO / "papers").rglob("*.py"))


# ## The invariant
#
# Every line of the file is in exactly one section and one column, with its own text, and the sections
# follow the file's order. The code column's HTML shows each code line's exact text.
def assert_tiles(doc: Document, source: str) -> None:
    lines = source.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    if lines[-1] == "":
        lines.pop()
    numbers = [number for section in doc.sections for number in section.numbers]
    assert numbers == list(range(1, len(lines) + 1))
    for section in doc.sections:
        assert not {line.number for line in section.prose} & {line.number for line in section.code}
        for line in (*section.prose, *section.code):
            assert line.text == lines[line.number - 1]
    assert [html.unescape(re.sub(r"<[^>]+>", "", shown)) for shown in doc.highlighted] == lines


def kinds(doc: Document) -> dict[int, str]:
    found = {}
    for section in doc.sections:
        found.update({line.number: "prose" for line in section.prose})
        found.update({line.number: "code" for line in section.code})
    return found


def parse(source: str) -> Document:
    return parse_source("demo.py", source)


@pytest.mark.parametrize("path", TRICKY + PAPERS, ids=lambda p: p.relative_to(REPO).as_posix())
def test_real_and_tricky_files_keep_every_line_once(path: Path) -> None:
    source = path.read_bytes().decode("utf-8")
    try:
        doc = parse_source(path.name, source)
    except LiterateError as error:  # a paper another author is still fixing: the error names file and line
        assert re.match(r"^\S+:\d+: \S", str(error))
        return
    assert_tiles(doc, source)


# ## Random files
#
# Python files assembled from blocks whose column is known: comment blocks (prose), pragmas, trailing
# comments and comments inside brackets (code), strings full of `#` and quotes (code), definitions with
# docstrings (prose) and decorators, nested to two levels. Each generated line carries the column it must
# land in ("either" for blank lines).
TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cc", "Cs")), max_size=24)
SAFE_TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cc", "Cs"), exclude_characters='"\\'),
                    max_size=24)
NAMES = st.sampled_from(["x", "y_1", "größe", "value", "π"])
PRAGMAS = st.sampled_from(["# noqa", "# noqa: E501", "# pylint: disable=invalid-name", "# type: ignore",
                           "# fmt: off", "# isort: skip"])


@st.composite
def comment_block(draw, pad: str) -> list[tuple[str, str]]:
    texts = draw(st.lists(TEXT.filter(lambda text: not PRAGMA.match(f"# {text}")), min_size=1, max_size=3))
    return [(f"{pad}# {text}".rstrip() if text.strip() else f"{pad}#", "prose") for text in texts]


@st.composite
def statement(draw, pad: str) -> list[tuple[str, str]]:
    name, text = draw(NAMES), draw(TEXT)
    choice = draw(st.integers(0, 4))
    if choice == 0:
        trailing = f"  # {draw(TEXT)}" if draw(st.booleans()) else ""
        return [(f"{pad}{name} = {text!r}{trailing}", "code")]
    if choice == 1:
        inner = draw(st.lists(SAFE_TEXT, max_size=3))
        body = [(f"# {line}", "code") for line in inner]
        return [(f'{pad}{name} = """', "code"), *body, ('"""', "code")]
    if choice == 2:
        return [(f"{pad}{name} = f(", "code"), (f"{pad}    {text!r},  # {draw(TEXT)}", "code"),
                (f"{pad}    # {draw(TEXT)}", "code"), (f"{pad})", "code")]
    if choice == 3:
        return [(f"{pad}{draw(PRAGMAS)}", "code"), (f"{pad}{name} = 1", "code")]
    return [(f"{pad}{name} = {draw(st.integers())}", "code")]


@st.composite
def docstrings(draw, pad: str) -> list[tuple[str, str]]:
    raw = draw(st.booleans())
    text = draw(SAFE_TEXT)
    if raw:
        text += r" $\frac{a}{b}$"
    prefix = "r" if raw else ""
    if draw(st.booleans()):
        return [(f'{pad}{prefix}"""{text}."""', "prose")]
    more = draw(st.lists(SAFE_TEXT, max_size=2))
    return [(f'{pad}{prefix}"""{text}', "prose"), *((f"{pad}{line}".rstrip(), "prose") for line in more),
            (f'{pad}"""', "prose")]


@st.composite
def definition(draw, pad: str, depth: int) -> list[tuple[str, str]]:
    lines = []
    for _ in range(draw(st.integers(0, 2))):
        lines.append((f"{pad}@decorate", "code"))
        if draw(st.booleans()):
            lines.append((f"{pad}# {draw(TEXT)}", "code"))  # between a decorator and its def
    keyword = draw(st.sampled_from(["def f(a, b=1):", "async def g():", "class C:"]))
    lines.append((f"{pad}{keyword}", "code"))
    if draw(st.booleans()):
        lines += draw(docstrings(pad + "    "))
    lines += draw(bodies(pad + "    ", depth + 1))
    return lines


@st.composite
def bodies(draw, pad: str, depth: int = 0) -> list[tuple[str, str]]:
    lines = [*draw(statement(pad))]
    for _ in range(draw(st.integers(0, 4 if depth == 0 else 2))):
        choice = draw(st.integers(0, 3 if depth < 2 else 2))
        if choice == 0:
            lines += draw(comment_block(pad))
            lines += draw(statement(pad))
        elif choice == 1:
            lines.append(("", "either"))
        elif choice == 2:
            lines += draw(statement(pad))
        else:
            lines += draw(definition(pad, depth))
    return lines


@st.composite
def python_file(draw) -> list[tuple[str, str]]:
    lines = draw(docstrings("")) if draw(st.booleans()) else []
    lines += draw(bodies(""))
    if draw(st.booleans()):
        lines += [("", "either"), ('if __name__ == "__main__":', "code"), *draw(bodies("    ", 2))]
    return lines


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(python_file())
def test_random_files_keep_every_line_in_its_column(lines: list[tuple[str, str]]) -> None:
    source = "\n".join(text for text, _ in lines) + "\n"
    ast.parse(source)  # the generator makes valid Python
    doc = parse(source)
    assert_tiles(doc, source)
    found = kinds(doc)
    for number, (_, expected) in enumerate(lines, start=1):
        if expected != "either":
            assert found[number] == expected, (number, source.split("\n")[number - 1])


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(["x = 1", "# note", "", "    y = '#'", "def f():", "    pass", '"""doc"""',
                                 "\t# tab", "class A:", "    '''d'''", "@d", ")", "z = (", "# noqa", "\\"]),
                max_size=12))
def test_any_text_either_fails_cleanly_or_keeps_every_line(lines: list[str]) -> None:
    source = "\n".join(lines) + "\n"
    try:
        doc = parse(source)
    except LiterateError as error:
        assert re.match(r"^demo\.py:\d+: \S", str(error))
        return
    assert_tiles(doc, source)


# ## The rules, one by one
def test_comment_block_is_prose_for_the_code_after_it() -> None:
    doc = parse("import os\n\n# ## Paths\n#\n# The *home* folder.\nHOME = os.path.expanduser('~')\n")
    assert [s.markdown for s in doc.sections] == ["", "## Paths\n\nThe *home* folder."]
    assert [line.number for line in doc.sections[1].code] == [6]


def test_trailing_comments_and_pragmas_stay_in_the_code() -> None:
    doc = parse("# pylint: disable=invalid-name\nx = 1  # the count\n# noqa\ny = 2  # type: int\n")
    assert kinds(doc) == {1: "code", 2: "code", 3: "code", 4: "code"}


def test_hash_in_strings_never_splits() -> None:
    source = 'a = "# no"\nb = """\n# no\n"""\nc = f"{a} # no"\n'
    assert set(kinds(parse(source)).values()) == {"code"}


def test_comment_inside_brackets_or_after_a_decorator_stays_code() -> None:
    source = "x = max(\n    # the first\n    1,\n    2,\n)\n\n@staticmethod\n# why\ndef f():\n    pass\n"
    assert kinds(parse(source))[2] == "code"
    assert kinds(parse(source))[8] == "code"


def test_docstrings_are_prose_beside_their_definition() -> None:
    source = 'x = 1\n\n\n@property\ndef f(self):\n    """Twice $x$."""\n    return 2 * x\n'
    doc = parse(source)
    assert len(doc.sections) == 2
    assert [line.number for line in doc.sections[1].code] == [4, 5, 7]
    assert doc.sections[1].markdown == "Twice $x$."


def test_indented_comments_and_method_docstrings_lose_their_indentation() -> None:
    source = ('class A:\n    def m(self):\n        """First.\n\n        * a\n          b\n        """\n'
              "        y = 1\n        # Indented *prose*.\n        #     code block\n        return y\n")
    doc = parse(source)
    assert [s.markdown for s in doc.sections] == ["", "First.\n\n* a\n  b", "Indented *prose*.\n    code block"]


def test_one_line_docstring_next_to_code_stays_code() -> None:
    doc = parse('def f(): """Doc."""; return 1\n\n\ndef g():\n    """Doc."""  # noqa\n    return 2\n')
    assert set(kinds(doc).values()) - {"prose"} == {"code"}
    assert kinds(doc)[1] == "code" and kinds(doc)[5] == "code"


def test_blank_lines_between_code_are_code_others_are_prose() -> None:
    doc = parse("# Intro.\n\nx = 1\n\ny = 2\n\n\n# Next.\nz = 3\n")
    assert kinds(doc) == {1: "prose", 2: "prose", 3: "code", 4: "code", 5: "code", 6: "prose", 7: "prose",
                          8: "prose", 9: "code"}


def test_module_front_matter_gives_title_and_summary_and_leaves_the_prose() -> None:
    doc = parse('r"""\n---\ntitle: A Paper\nsummary: What it shows,\n  in two lines.\n---\n\n# A Paper\n\nText."""\n')
    assert (doc.title, doc.summary) == ("A Paper", "What it shows, in two lines.")
    assert doc.sections[0].markdown == "# A Paper\n\nText."


def test_front_matter_that_is_not_yaml_is_read_as_key_value_lines() -> None:
    doc = parse('"""\n---\ntitle: Kit\nsummary: What it shares: a loop.\n---\n"""\n')
    assert doc.summary == "What it shares: a loop."


def test_bad_front_matter_fails_with_its_line() -> None:
    with pytest.raises(LiterateError, match=r"^demo\.py:\d+: front matter is not valid YAML"):
        parse('"""\n---\ntitle: [unclosed\n- x\n---\n"""\n')


# The raw-string rule is the project's lint (scripts/lint_docstrings.py), not a build failure: any file renders,
# its docstrings shown as written.
@pytest.mark.parametrize("docstring, line", [('"""\\frac{a}{b}"""', 1), ('"""$x$\n\n$\\alpha$"""', 3),
                                             ('"""a \\sum"""', 1), ('"""tab \\t"""', 1)])
def test_docstring_with_backslash_escape_and_no_r_prefix_is_linted_and_shown_as_written(docstring: str,
                                                                                     line: int) -> None:
    problems = [str(found) for found in escape_problems("demo.py", f"{docstring}\n")]
    assert len(problems) == 1
    assert problems[0].startswith(f"demo.py:{line}: docstring without r prefix contains the escape")
    assert parse(f"{docstring}\n").sections[0].markdown == docstring.strip('"')


def test_raw_docstrings_and_escaped_backslashes_pass() -> None:
    doc = parse('r"""$\\frac{a}{b}$"""\n\n\ndef f():\n    """A \\\\ backslash."""\n')
    assert doc.sections[0].markdown == "$\\frac{a}{b}$\n\nA \\ backslash."


def test_syntax_error_fails_with_file_and_line() -> None:
    with pytest.raises(LiterateError, match=r"^demo\.py:3: syntax error: "):
        parse("x = 1\n\ndef f(:\n    pass\n")


# ## Escaping and layout
def test_code_with_html_is_escaped() -> None:
    source = 'html = "<script>alert(1)</script></div>"\n'
    doc = parse(source)
    shown = code_html(doc.sections[0], doc.highlighted)
    assert "<script" not in shown and "</div>\"" not in shown
    assert "&lt;script&gt;" in shown and 'data-n="1"' in shown


def test_code_is_highlighted_from_the_tokens() -> None:
    doc = parse('@cache\nclass A(Base):\n    def f(self, x=None):\n        return len("s") + 1  # c\n')
    assert doc.highlighted[0] == '<span class="o">@</span><span class="nd">cache</span>'
    assert '<span class="k">class</span> <span class="nc">A</span><span class="p">(</span>Base' in doc.highlighted[1]
    assert '<span class="nf">f</span>' in doc.highlighted[2] and '<span class="kc">None</span>' in doc.highlighted[2]
    assert '<span class="bp">self</span>' in doc.highlighted[2]
    assert ('<span class="nb">len</span><span class="p">(</span><span class="s2">"s"</span>' in doc.highlighted[3]
            and '<span class="m">1</span>  <span class="c1"># c</span>' in doc.highlighted[3])


def test_prose_html_is_kept_in_its_column() -> None:
    assert balance_html("<p>a </div> b</p>") == "<p>a &lt;/div&gt; b</p>"
    assert balance_html("<p>open <div> here</p>") == "<p>open <div> here</div></p>"
    assert balance_html("<p><script>x()</script></p>") == "<p>&lt;script&gt;x()&lt;/script&gt;</p>"
    assert balance_html('<p><img src="x" onerror="y()"></p>') == '<p>&lt;img src="x" onerror="y()"&gt;</p>'
    assert balance_html('<p><a id="x"></a> <br> ok</p>') == '<p><a id="x"></a> <br> ok</p>'


def test_split_prose_reports_a_swallowed_section() -> None:
    assert split_prose("<!--lp-section-0--><p>a</p><!--lp-section-1--><p>b</p>", 2) == ["<p>a</p>", "<p>b</p>"]
    with pytest.raises(Exception, match="unclosed HTML block"):
        split_prose("<!--lp-section-0--><div><p>a</p>", 2)


# ## Math, links and progress
def test_math_is_protected_outside_code() -> None:
    def store(tex: str, display: bool) -> str:
        return f"[{'D' if display else 'I'}:{tex}]"

    assert protect_markdown(r"a $x_1 * y_2$ b", store) == "a [I:x_1 * y_2] b"
    assert protect_markdown("costs $5 and $10", store) == "costs $5 and $10"
    assert protect_markdown("`$x$` and ``$`$``\n```\n$y$\n```", store) == "`$x$` and ``$`$``\n```\n$y$\n```"
    assert protect_markdown("```\n$y$\n```\n$$\n\\frac{a}{b}\n$$", store) == "```\n$y$\n```\n[D:\\frac{a}{b}]"
    assert protect_markdown(r"\$ and $a \$ b$", store) == r"&#36; and [I:a \$ b]"
    assert protect_markdown("$a\n\nb$", store) == "$a\n\nb$"


def test_links_resolve_against_the_repository() -> None:
    assert resolve("papers/kit/experiment.py", "../../scripts/tracker.py#x") == "scripts/tracker.py"
    assert resolve("tracker.md", "papers/a.py") == "papers/a.py"
    assert resolve("papers/a.py", "../../x.py") is None
    assert link_targets("[a](b.py) ![c](results/d.png \"t\")\n[e]: <f.py>\n") == {"b.py", "results/d.png", "f.py"}
    links = LinkMap(REPO, {"papers/kit/tasks.py": "papers/kit/tasks.md", "tests/a/test_b.py": "tests/a/test_b.md"})
    links.set_page("papers/kit/data.py", "papers/kit/data.md", "")
    assert links.rewrite("tasks.py#RESERVED") == "tasks.md#RESERVED"
    assert links.rewrite("../../tests/a/test_b.py") == "../../tests/a/test_b.md"
    assert links.rewrite("https://arxiv.org/abs/1") == "https://arxiv.org/abs/1"


def test_tracker_progress_counts_ticked_lines_per_heading() -> None:
    text = "# T\n\n## A\n\n- [x] one\n- [ ] two\n\n## B\n\n- [X] three\n\n```\n- [ ] not a task\n```\n"
    assert [(p.line, p.done, p.total) for p in progress(text.split("\n"))] == [(0, 2, 3), (2, 1, 2), (7, 1, 1)]
    assert "<strong>1/2</strong>" in add_progress(text)


# ## Whole builds
PAPER = r'''r"""
---
title: A Demo Paper
summary: Shows every feature of a page.
---

# A Demo Paper

It uses [the helpers](../kit/helpers.py) and [its tests](../../tests/demo/test_paper.py); math
$a_i * b_i = \frac{1}{2}$ and

$$\sum_{i=1}^{n} x_i^2.$$

![The figure](results/paper.png)
"""
from papers.kit.helpers import helper


# ## The code
#
# Multiply: $y = 2x$. A docstring below mentions </div> and <script>.
def double(x: float) -> float:
    """Returns $2x$; see </div> <script>alert(1)</script>."""
    html = "<script>alert('x')</script></div>"  # escaped
    return helper(2 * x) if html else 0.0


if __name__ == "__main__":
    print(double(1.0))
'''
HELPERS = '"""\n---\ntitle: Helpers\n---\n\n# Helpers\n"""\n\n\n# The identity.\ndef helper(x):\n    return x\n'
TESTS = '"""Tests of the demo."""\n\n\n# It doubles.\ndef test_double():\n    assert True\n'
TRACKER = ("# Tracker\n\n## Demo\n\n- [x] **D1** A demo: [page](papers/demo/paper.py) · "
           "[tests](tests/demo/test_paper.py)\n- [ ] **D2** Not yet\n")
RESULTS = {"paper": "papers/demo/paper.py", "headline": "Doubling works <b>perfectly</b>",
           "metrics": {"error": 0.000123456, "steps": 10, "curve": list(range(20))}, "seed": 3, "quick": False,
           "steps": None, "runtime_s": 12.34, "cpu_time_s": 3.21, "load_average": 1.5, "torch": "2.13.0",
           "torch_threads": 2,
           "fingerprint": "0123456789abcdef", "figures": ["paper.png", "paper-extra.png"]}
PNG = bytes.fromhex("89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c4890000000d49444154789c6360"
                    "000002000154a24f5d0000000049454e44ae426082")


@pytest.fixture(name="demo_site", scope="module")
def fixture_demo_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = site_repo(tmp_path_factory.mktemp("demo") / "repo")
    write(root, {"papers/__init__.py": '"""Papers."""\n', "papers/demo/__init__.py": '"""Demonstrations."""\n',
                 "papers/demo/paper.py": PAPER, "papers/kit/__init__.py": "", "papers/kit/helpers.py": HELPERS,
                 "tests/demo/test_paper.py": TESTS, "tracker.md": TRACKER,
                 "papers/demo/results/paper.json": json.dumps(RESULTS)})
    for name in ("paper.png", "paper-extra.png"):
        (root / "papers/demo/results" / name).write_bytes(PNG)
    result = build(root)
    assert result.returncode == 0, result.stderr
    assert "WARNING" not in result.stderr
    return root


def page(root: Path, path: str) -> str:
    return (root / "site" / path / "index.html").read_text(encoding="utf-8")


def test_paper_page_has_prose_beside_numbered_escaped_code(demo_site: Path) -> None:
    text = page(demo_site, "papers/demo/paper")
    sections = re.findall(r'<section class="lp-section".*?</section>', text, re.DOTALL)
    assert len(sections) == 2
    assert all('<div class="lp-prose">' in s and '<div class="lp-code">' in s for s in sections)
    numbers = [int(n) for n in re.findall(r'class="lp-line[^"]*" id="L\d+" data-n="(\d+)"', text)]
    source_lines = PAPER.count("\n")
    prose_lines = set(range(1, 16)) | {17, 18, 19, 20, 21, 23}
    assert numbers == [n for n in range(1, source_lines + 1) if n not in prose_lines]
    line_24 = re.search(r'data-n="24">(.*?)\n</span>', text).group(1)
    assert html.unescape(re.sub(r"<[^>]+>", "", line_24)) == PAPER.split("\n")[23]
    assert "&lt;script&gt;alert(" in line_24 and "&lt;/div&gt;" in line_24
    assert "alert(1)</script>" not in text and "&lt;/div&gt; &lt;script&gt;" in text


def test_paper_page_renders_math_links_and_results(demo_site: Path) -> None:
    text = page(demo_site, "papers/demo/paper")
    assert text.count('class="katex"') >= 3 and "katex-display" in text and "lp-math" not in text
    assert 'href="../../kit/helpers/"' in text and 'href="../../../tests/demo/test_paper/"' in text
    assert '<title>A Demo Paper - Annotated Papers</title>' in text
    assert '<meta name="description" content="Shows every feature of a page.">' in text
    assert "Doubling works &lt;b&gt;perfectly&lt;/b&gt;" in text and "0.0001235" in text and "seed 3" in text
    assert "run time 12.3 s · 3.2 s CPU · load average 1.5" in text
    assert 'src="../results/paper.png"' in text and 'src="../results/paper-extra.png"' in text
    assert text.count('src="../results/paper.png"') == 1  # shown in the prose, not again in the results
    assert 'href="../paper.py"' in text  # the source link
    for copied in ("papers/demo/results/paper.png", "papers/demo/paper.py", "assets/katex/katex.min.css",
                   "assets/katex/fonts/KaTeX_Main-Regular.woff2"):
        assert (demo_site / "site" / copied).is_file()


def test_tracker_page_has_progress_and_working_links(demo_site: Path) -> None:
    text = page(demo_site, "tracker")
    assert "<strong>1/2</strong>" in text
    assert 'href="../papers/demo/paper/"' in text and 'href="../tests/demo/test_paper/"' in text
    assert 'data-n="5"' in page(demo_site, "tests/demo/test_paper")


def test_navigation_search_and_home(demo_site: Path) -> None:
    home = page(demo_site, "")
    assert "Demonstrations" in home and "A Demo Paper" in home and "Helpers" in home
    assert "Shows every feature of a page." in home
    index = json.loads((demo_site / "site/search/search_index.json").read_text(encoding="utf-8"))
    assert any("Multiply" in doc["text"] for doc in index["docs"])
    assert "fonts.googleapis" not in home and "cdn" not in home.lower()


def test_dirty_rebuild_touches_only_the_changed_page(demo_site: Path) -> None:
    built = {name: (demo_site / "site" / name / "index.html").stat().st_mtime_ns
             for name in ("papers/demo/paper", "papers/kit/helpers", "tests/demo/test_paper")}
    time.sleep(0.05)
    helpers = demo_site / "papers/kit/helpers.py"
    helpers.write_text(HELPERS.replace("The identity.", "The identity, unchanged."), encoding="utf-8")
    result = build(demo_site, dirty=True)
    assert result.returncode == 0, result.stderr
    after = {name: (demo_site / "site" / name / "index.html").stat().st_mtime_ns for name in built}
    assert after["papers/kit/helpers"] > built["papers/kit/helpers"]
    assert after["papers/demo/paper"] == built["papers/demo/paper"]
    assert "unchanged" in page(demo_site, "papers/kit/helpers")


@pytest.mark.parametrize("name, text, message", [
    ("papers/demo/bad.py", "x = 1\n\ndef f(:\n    pass\n", r"papers/demo/bad\.py:3: syntax error: "),
    ("papers/demo/bad.py", "# See [this](missing.py).\nx = 1\n", r"papers/demo/bad\.py:1: broken link 'missing\.py'"),
    ("papers/demo/bad.py", "# Bad $\\frac{a$ math.\nx = 1\n", r"papers/demo/bad\.py:1: math error: "),
])
def test_bad_files_fail_the_build_with_file_and_line(tmp_path: Path, name: str, text: str, message: str) -> None:
    root = site_repo(tmp_path / "repo")
    write(root, {"papers/demo/good.py": "# Fine.\nx = 1\n", name: text})
    result = build(root)
    assert result.returncode != 0
    assert re.search(rf"^(ERROR|WARNING) +- +{message}.*$", result.stderr, re.MULTILINE), result.stderr



# ## Files the renderer has never seen
#
# Each kind of file that once went wrong in the prose, as a small input in `tricky/`: first the rule on its
# own, then all of them built together as one site, where every message must name the file and line.
def tricky(name: str) -> str:
    return (Path(__file__).parent / "tricky" / name).read_text(encoding="utf-8")


def math_store(tex: str, display: bool) -> str:
    return f"[{'D' if display else 'I'}:{tex}]"


def test_bare_latex_environment_is_displayed_math() -> None:
    markdown = parse(tricky("bare_latex_environment.py")).sections[0].markdown
    tex = "\\begin{align}\na &= b \\\\\n\\hat{v}_t &= \\theta_{t-1} + \\frac{c}{d}\n\\end{align}"
    assert markdown == tex and protect_markdown(markdown, math_store) == f"[D:{tex}]"
    assert protect_markdown("a \\begin{gather*}x\\end{gather*} b \\begin{foo}y\\end{foo}", math_store) == \
        "a [D:\\begin{gather*}x\\end{gather*}] b \\begin{foo}y\\end{foo}"
    assert protect_markdown("`\\begin{align}x\\end{align}` \\begin{align} never closed", math_store) == \
        "`\\begin{align}x\\end{align}` \\begin{align} never closed"


def test_docstring_is_shown_as_written() -> None:
    doc = parse(tricky("docstring_not_raw.py"))
    assert doc.sections[-1].markdown == "$\\mathbf{W}$"
    assert parse('"""Split on "\\n", one \\\\ backslash, a long \\\nline."""\n').sections[0].markdown == \
        'Split on "\\n", one \\ backslash, a long line.'


def test_docstring_line_at_column_0_does_not_make_a_code_block() -> None:
    assert parse(tricky("outdented_docstring_line.py")).sections[0].markdown == "See [x](y).\n."
    method = ('class A:\n    def f(self):\n        """Do.\n\n    Outdented.\n        * item\n          more\n'
              '        """\n')
    assert parse(method).sections[-1].markdown == "Do.\n\nOutdented.\n* item\n  more"
    module = '"""Intro.\n\nText.\n\n    code block\n"""\n'  # closing quotes at column 0: the margin is 0
    assert parse(module).sections[0].markdown == "Intro.\n\nText.\n\n    code block"


def test_a_dollar_left_as_text_is_reported() -> None:
    markdown = parse(tricky("dollar_space.py")).sections[0].markdown
    found: list[str] = []
    assert protect_markdown(markdown, math_store, found.append) == markdown
    assert found == [markdown, markdown]  # the opening and the closing `$`, the site reports the line once
    found.clear()
    protect_markdown("$a$, \\$5, `$x`\n```\n$\n```\n\n    $ make (indented code)", math_store, found.append)
    assert not found


def test_lines_are_found_in_the_prose_not_the_code() -> None:
    doc = parse(tricky("link_text_in_code.py"))
    assert find_line("\n".join(doc.lines), "missing.py") == 1  # the code holds it first
    assert find_line(prose_view(doc), "missing.py") == 4 and find_link("\n".join(doc.lines), "missing.py") == 4
    doc = parse(tricky("math_error_multiline.py"))
    assert find_line(prose_view(doc), "a = b \\\\\nc = \\frac{d") == 7
    assert find_line('def f():\n    r"""A.\n\n    $$x\n      + y$$\n    """', "x\n+ y") == 4


def test_urls_that_run_script_or_leave_the_machine_are_refused() -> None:
    for attribute, url in [("href", "javascript:alert(1)"), ("href", "jav&#x61;script:x"), ("href", "JAVA\tSCRIPT:x"),
                           ("href", "data:text/html,x"), ("src", "https://example.com/a.png"), ("src", "//cdn/x.js"),
                           ("srcset", "a.png 1x, http://e.com/b.png 2x")]:
        assert problem(attribute, url) is not None, url
    for attribute, url in [("href", "https://arxiv.org/abs/1"), ("href", "../a.py#L3"), ("src", "results/a.png"),
                           ("href", "mailto:a@b.c"), ("src", "data:image/png;base64,AAAA")]:
        assert problem(attribute, url) is None, url
    assert not is_relative("jav&#x61;script:x")
    reported: list[str] = []
    html_text = '<p><a href="jav&#x61;script:y">a</a> <img alt="x" src="http://e.com/x.png"><a href="b/">ok</a></p>'
    assert check_urls(html_text, lambda name, raw, reason: reported.append(raw)) == \
        '<p><a href="">a</a> <img alt="x" src=""><a href="b/">ok</a></p>'
    assert reported == ["jav&#x61;script:y", "http://e.com/x.png"]


def test_docstring_lint_names_file_and_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "good.py").write_text('r"""$\\frac{a}{b}$"""\n\n\ndef f():\n    """A \\\\ b."""\n', encoding="utf-8")
    assert lint_docstrings.main([str(tmp_path)]) == 0
    assert lint_docstrings.main([str(Path(__file__).parent / "tricky")]) == 1
    assert capsys.readouterr().out.strip().splitlines() == [
        "tests/site/tricky/docstring_not_raw.py:2: docstring without r prefix contains the escape \\m "
        '(write r"""...""" so that backslashes, as in LaTeX, survive)']


# Every tricky input as a page of one site (`package_introduction.py` as the area's `__init__.py`). The build
# must fail (strict) with exactly these messages, each naming the file and line.
TRICKY_WARNINGS = [
    r"papers/tricky/__init__\.py:3: broken link 'missing\.py'",
    r"papers/tricky/dollar_space\.py:1: a '\$' is left as text",
    r"papers/tricky/external_image\.py:3: src=\"https://example\.com/figure\.png\" is a resource from another",
    r"papers/tricky/javascript_links\.py:1: href=\"javascript:alert\(1\)\" is a URL that runs script",
    r"papers/tricky/javascript_links\.py:2: href=\"jav&#x61;script:alert\(2\)\" is a URL that runs script",
    r"papers/tricky/javascript_links\.py:3: href=\"jav&#x61;script:alert\(3\)\" is a URL that runs script",
    r"papers/tricky/link_text_in_code\.py:4: broken link 'missing\.py'",
    r"papers/tricky/math_error_multiline\.py:7: math error: KaTeX parse error",
    r"papers/tricky/missing_anchor\.py:1: contains a link '#nowhere', but there is no such anchor on this page\.",
    r"papers/tricky/outdented_docstring_line\.py:2: broken link 'y'",
]


@pytest.fixture(name="tricky_site", scope="module")
def fixture_tricky_site(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    root = site_repo(tmp_path_factory.mktemp("tricky") / "repo")
    files = {}
    for path in TRICKY:
        name = "__init__.py" if path.stem == "package_introduction" else path.name
        files[f"papers/tricky/{name}"] = path.read_text(encoding="utf-8")
    write(root, files)
    result = build(root)
    assert result.returncode != 0
    return root, result.stderr


def test_tricky_files_fail_the_build_with_file_and_line(tricky_site: tuple[Path, str]) -> None:
    _, stderr = tricky_site
    warnings = sorted(line for line in stderr.splitlines() if line.startswith(("WARNING", "ERROR")))
    assert len(warnings) == len(TRICKY_WARNINGS), stderr
    for warning, expected in zip(warnings, TRICKY_WARNINGS):
        assert re.match(rf"^WARNING +- +{expected}", warning), (warning, expected)


def test_tricky_files_render(tricky_site: tuple[Path, str]) -> None:
    root, _ = tricky_site
    bare = page(root, "papers/tricky/bare_latex_environment")
    shown = re.sub(r"<annotation.*?</annotation>", "", bare, flags=re.DOTALL)  # KaTeX keeps the TeX there
    assert "katex-display" in bare and "\\begin{align}" not in shown
    assert 'class="katex"' in page(root, "papers/tricky/docstring_not_raw")
    assert "<p>See <a" in page(root, "papers/tricky/outdented_docstring_line")
    assert "An area of papers." in page(root, "papers/tricky")  # the package's introduction is its index page
    links = page(root, "papers/tricky/javascript_links")
    assert "script:alert" not in links.replace("javascript_links", "")
    assert "example.com" not in page(root, "papers/tricky/external_image")


def test_summary_is_text_in_the_meta_tag_and_on_the_home_page(tricky_site: tuple[Path, str]) -> None:
    root, _ = tricky_site
    shown = page(root, "papers/tricky/summary_script")
    escaped = "A &quot;quoted&quot; word&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;"
    assert f'<meta name="description" content="{escaped}">' in shown
    for text in (shown, page(root, "")):
        assert "<script>alert(1)" not in text and "&lt;script&gt;alert(1)" in text
