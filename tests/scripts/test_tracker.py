"""Tests for scripts/tracker.py: every kind of unearned tick is caught, with its line number."""
import importlib.util
import json
import sys
import textwrap
from pathlib import Path

import pytest

from papers.kit import experiment as kit

SPEC = importlib.util.spec_from_file_location("tracker", Path(__file__).parents[2] / "scripts" / "tracker.py")
tracker = importlib.util.module_from_spec(SPEC)
sys.modules["tracker"] = tracker
SPEC.loader.exec_module(tracker)

CATALOG = textwrap.dedent("""\
    ## Part A: the list

    | # | Entry | Reference | Show |
    |---|---|---|---|
    | A1 | First Paper | Someone, 2020 | something |
    | A2 | Second Paper | Someone, 2021 | something |

    ## Part B: the extended checklist

    Sections and entries in this order.

    Things: Alpha (A et al., 2019, arXiv:1); Beta (B, 2020; and C, 2021).
    """)


@pytest.fixture(name="repo")
def repo_fixture(tmp_path, monkeypatch):
    """A tiny repository with one finished paper, its tests and its results."""
    (tmp_path / "papers" / "area").mkdir(parents=True)
    (tmp_path / "papers" / "kit").mkdir()
    (tmp_path / "tests").mkdir()
    (tmp_path / "papers" / "__init__.py").write_text("")
    (tmp_path / "papers" / "kit" / "helper.py").write_text("H = 1\n")
    (tmp_path / "papers" / "area" / "__init__.py").write_text("")
    paper = tmp_path / "papers" / "area" / "first.py"
    paper.write_text("from papers.kit.helper import H\nX = H\n")
    (tmp_path / "tests" / "test_first.py").write_text("from papers.area.first import X\n")
    monkeypatch.setattr(tracker, "ROOT", tmp_path)
    monkeypatch.setattr(kit, "REPO_ROOT", tmp_path)
    write_results(paper)
    return tmp_path


def write_results(paper: Path, **changes) -> None:
    fingerprint, files = kit.code_fingerprint(paper)
    record = {"quick": False, "fingerprint": fingerprint, "fingerprint_files": files, "figures": [],
              "torch_threads": 1, "cpu_capability": "AVX2", "blas": "mkl"} | changes
    path = kit.results_path(paper)
    path.parent.mkdir(exist_ok=True)
    path.write_text(json.dumps(record))


GOOD = ("- [x] **A1** First Paper (Someone, 2020): [page](papers/area/first.py) · [tests](tests/test_first.py)"
        " · note: held: 3 seeds",
        "- [ ] **A2** Second Paper (Someone, 2021)",
        "- [ ] Alpha (A et al., 2019, arXiv:1)",
        "- [ ] Beta (B, 2020; and C, 2021)")


def tracker_text(a1=GOOD[0], a2=GOOD[1], alpha=GOOD[2], beta=GOOD[3], extra="") -> str:
    return (f"# Tracker\n\n## Part A: the list\n\n{a1}\n{a2}\n{extra}\n"
            f"## Part B: the extended checklist\n\n### Things\n\n{alpha}\n{beta}\n")


def problems(text: str) -> list[tuple[int, str]]:
    return tracker.check(tracker.parse(text), CATALOG)


@pytest.mark.usefixtures("repo")
def test_a_well_formed_tracker_passes():
    assert not problems(tracker_text())
    parsed = tracker.parse(tracker_text())
    assert [e.key for e in parsed.entries] == ["A1", "A2", "Alpha", "Beta"]
    assert "1 /   2  Part A: the list" in tracker.status(parsed)


@pytest.mark.usefixtures("repo")
def test_ticked_line_without_tests_link():
    found = problems(tracker_text(a1="- [x] **A1** First Paper (Someone, 2020): [page](papers/area/first.py)"))
    assert found == [(5, "ticked but has no tests link")]


@pytest.mark.usefixtures("repo")
@pytest.mark.usefixtures("repo")
@pytest.mark.parametrize("note", ["", " · note: 3 seeds, it held", " · note: Held: 3 seeds"])
def test_ticked_line_needs_a_note_that_opens_with_its_verdict(note):
    line = GOOD[0].partition(" · note: ")[0] + note
    found = problems(tracker_text(a1=line))
    assert len(found) == 1 and found[0][0] == 5
    assert "must open with a verdict (held:, held weakly:, not held:)" in found[0][1]


@pytest.mark.usefixtures("repo")
def test_link_to_missing_file():
    line = "- [x] **A1** First Paper (Someone, 2020): [page](papers/area/nope.py) · [tests](tests/test_first.py)"
    found = problems(tracker_text(a1=line))
    assert (5, "page link points to a missing file: papers/area/nope.py") in found
    assert (0, "papers/area/first.py is a paper file on no tracker line") in found


def test_tests_that_import_nothing_from_the_page(repo):
    (repo / "tests" / "test_first.py").write_text("import math\n")
    assert problems(tracker_text()) == [(5, "tests/test_first.py imports nothing from papers.area.first")]


def test_tests_may_import_the_module_from_its_package(repo):
    (repo / "tests" / "test_first.py").write_text("from papers.area import first\n")
    assert not problems(tracker_text())


def test_unlisted_paper_file_but_kit_and_init_are_exempt(repo):
    (repo / "papers" / "area" / "second.py").write_text("Y = 2\n")
    assert problems(tracker_text()) == [(0, "papers/area/second.py is a paper file on no tracker line")]


@pytest.mark.usefixtures("repo")
def test_duplicate_entry():
    found = problems(tracker_text(extra=GOOD[1]))
    assert (7, "entry 'A2' appears twice (first on line 6)") in found


@pytest.mark.usefixtures("repo")
def test_malformed_lines_are_never_skipped():
    found = problems(tracker_text(extra="- [y] **A3** Broken"))
    assert found[0][0] == 7 and found[0][1].startswith("malformed line")
    found = problems(tracker_text(a2="- [ ] Second Paper (Someone, 2021)"))
    assert (6, "Part A lines start with their bold catalog number, e.g. '**A14** '") in found
    found = problems(tracker_text(a1=GOOD[0].replace("[tests]", "[test]")))
    assert (5, "malformed links: expected ': [page](...) · [tests](...)' after the title") in found


def test_missing_stale_and_quick_results(repo):
    paper = repo / "papers" / "area" / "first.py"
    kit.results_path(paper).unlink()
    assert "results missing" in problems(tracker_text())[0][1]
    write_results(paper, quick=True)
    assert "--quick run" in problems(tracker_text())[0][1]
    write_results(paper)
    record = json.loads(kit.results_path(paper).read_text())
    del record["cpu_capability"]
    kit.results_path(paper).write_text(json.dumps(record))
    assert "do not record the machine they ran on (cpu_capability)" in problems(tracker_text())[0][1]
    write_results(paper)
    paper.write_text('"""A docstring is prose."""\nfrom papers.kit.helper import H\nX = H  # so is this\n')
    assert not problems(tracker_text())
    (repo / "papers" / "kit" / "helper.py").write_text("H = 2\n")
    assert "are stale" in problems(tracker_text())[0][1]


@pytest.mark.usefixtures("repo")
def test_order_and_names_follow_the_catalog():
    swapped = problems(tracker_text(alpha=GOOD[3], beta=GOOD[2]))
    assert (12, "Part B entry 1 should be Things / 'Alpha' (catalog order), got Things / 'Beta'") in swapped
    missing = tracker.check(tracker.parse(tracker_text(a2="")), CATALOG)
    assert any("catalog entry A2" in p for _, p in missing)
