"""Tests for the kit's experiment runner: configuration, command line, fingerprint, results."""
import ast
import json
import textwrap

import pytest
import torch

from papers.kit import experiment as kit
from papers.kit.experiment import Outcome, RunConfig


def test_run_config_chooses_by_mode():
    assert RunConfig().choose(10, 2) == 10
    assert RunConfig(quick=True).choose(10, 2) == 2
    assert RunConfig(quick=True).train_steps(1000, 50) == 50
    assert RunConfig(quick=True, steps=7).train_steps(1000, 50) == 7


def test_command_line():
    command = kit.parse_args("demo", ["--seed", "3", "--steps", "20", "--quick"])
    assert command.config == RunConfig(seed=3, quick=True, steps=20)
    assert command.out_dir is None
    assert command.threads == 1
    assert kit.parse_args("demo", ["--threads", "2"]).threads == 2


def test_help_says_what_the_experiment_is_how_long_and_where_results_go():
    paper = kit.REPO_ROOT / "papers" / "transformers" / "attention.py"
    text = kit.describe(paper)
    assert text.startswith("Attention Is All You Need\n\nScaled dot-product and multi-head attention")
    assert "The full run took" in text and "thread(s) last time" in text
    assert "replaces the committed results in papers/transformers/results/" in text


def test_front_matter_reads_continued_values():
    doc = "---\ntitle: A title\nsummary: one\n  two\n---\n\n# Page"
    assert kit.front_matter(doc) == {"title": "A title", "summary": "one two"}
    assert not kit.front_matter("# No front matter")


@pytest.mark.parametrize("argv", [["--steps", "0"], ["--seed", "-1"], ["--threads", "0"]])
def test_command_line_rejects_bad_values(argv, capsys):
    with pytest.raises(SystemExit):
        kit.parse_args("demo", argv)
    assert "must be" in capsys.readouterr().err


def test_code_hash_ignores_comments_and_docstrings_but_not_code():
    base = 'def f(x):\n    """Doc."""\n    return x + 1  # one\n'
    prose = 'def f(x):\n    """Other words."""\n    # a new comment\n    return x + 1\n'
    code = 'def f(x):\n    """Doc."""\n    return x + 2\n'
    assert kit.code_hash(base) == kit.code_hash(prose)
    assert kit.code_hash(base) != kit.code_hash(code)


def test_fingerprint_follows_project_imports(monkeypatch, tmp_path):
    package = tmp_path / "papers"
    (package / "area").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "area" / "__init__.py").write_text("")
    (package / "area" / "helper.py").write_text("X = 1\n")
    (package / "area" / "other.py").write_text("Y = 1\n")
    paper = package / "area" / "paper.py"
    paper.write_text("from papers.area.helper import X\nfrom . import other\nimport math\n")
    monkeypatch.setattr(kit, "REPO_ROOT", tmp_path)
    first, files = kit.code_fingerprint(paper)
    assert files == ["papers/__init__.py", "papers/area/__init__.py", "papers/area/helper.py",
                     "papers/area/other.py", "papers/area/paper.py"]
    (package / "area" / "helper.py").write_text('"""Now documented."""\nX = 1  # same code\n')
    assert kit.code_fingerprint(paper)[0] == first
    (package / "area" / "other.py").write_text("Y = 2\n")
    assert kit.code_fingerprint(paper)[0] != first


def test_run_paper_quick_saves_only_where_asked(tmp_path):
    paper = kit.REPO_ROOT / "papers" / "transformers" / "attention.py"

    def tiny(config: RunConfig) -> Outcome:
        return Outcome("headline", {"seed": config.seed, "quick": config.quick})

    outcome = kit.run_paper(str(paper), tiny, ["--quick", "--seed", "4"])
    assert outcome.metrics == {"seed": 4, "quick": True}
    assert not (tmp_path / "attention.json").exists()
    kit.run_paper(str(paper), tiny, ["--quick", "--out", str(tmp_path)])
    record = json.loads((tmp_path / "attention.json").read_text())
    assert record["quick"] is True and record["seed"] == 0
    assert record["fingerprint"] == kit.code_fingerprint(paper)[0]
    assert record["paper"] == "papers/transformers/attention.py"
    assert record["torch_threads"] == 1
    assert record["cpu_capability"] == torch.backends.cpu.get_cpu_capability()
    assert record["blas"] and record["cpu"]


def test_seed_must_be_non_negative():
    with pytest.raises(ValueError, match="seed must be non-negative"):
        kit.seed_everything(-2)


def test_docstring_stripping_keeps_a_body():
    source = textwrap.dedent('''
        class A:
            """Only a docstring."""
    ''')
    stripped = kit._strip_docstrings(ast.parse(source))  # pylint: disable=protected-access
    assert ast.unparse(stripped) == "class A:\n    pass"


def test_over_seeds_reports_each_seed_mean_and_spread():
    summary = kit.over_seeds({0: 0.5, 1: 0.7, 2: 0.9})
    assert summary["per_seed"] == {"0": 0.5, "1": 0.7, "2": 0.9}
    assert summary["mean"] == pytest.approx(0.7) and summary["std"] == pytest.approx(0.2)
    assert (summary["min"], summary["max"]) == (0.5, 0.9)
    with pytest.raises(ValueError, match="at least two seeds"):
        kit.over_seeds({0: 1.0})


def test_quoted_on_page_reads_prose_across_line_breaks(tmp_path):
    page = tmp_path / "paper.py"
    page.write_text('"""\nThe LSTM recalls\n99% of the time.\n"""\n# over three\n# seeds: 0.75 on average.\nx = 1\n')
    assert kit.quoted_on_page(page, "recalls 99% of")
    assert kit.quoted_on_page(page, "three seeds: 0.75")
    assert not kit.quoted_on_page(page, "98%")
