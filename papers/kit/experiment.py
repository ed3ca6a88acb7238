r"""
---
title: Running an experiment
summary: Seeding, the common command line, results files with a code fingerprint, and figures.
---

# Running an experiment

Every paper script ends the same way:

```python
if __name__ == "__main__":
    run_paper(__file__, experiment)
```

`experiment` is a plain function from a [`RunConfig`](#RunConfig) to an [`Outcome`](#Outcome): the numbers the
paper's claim is about, a one-line headline, and the figures. Tests call the same function with
`RunConfig(quick=True)`, so the claim the page makes and the claim the tests check are one piece of code.

`run_paper` adds what a script needs around it: a command line, seeding, timing, a labml experiment for the
progress display, and saving. A full run writes `results/<paper>.json` and `results/<paper>*.png` next to the
paper file. The JSON records the numbers, the seed, the run time (wall clock and CPU) and a *fingerprint* of
the code that produced them. [`scripts/tracker.py check`](../../scripts/tracker.py) recomputes the fingerprint
and refuses a ticked paper whose results are stale.
"""
from __future__ import annotations

import argparse
import ast
import hashlib
import json
import os
import platform
import random
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, TypeVar

import matplotlib

# Figures are written to files, never shown: a backend without a display works on every machine.
matplotlib.use("Agg")

# pylint: disable=wrong-import-position
import numpy as np
import torch
from matplotlib.figure import Figure

T = TypeVar("T")

# The folder that holds the `papers` package; module names are resolved against it.
REPO_ROOT = Path(__file__).resolve().parents[2]


# ## Configuration
#
# <a id="RunConfig"></a>
# The three knobs every paper shares. `quick` is the mode tests use: the same experiment, smaller and
# shorter, finishing in seconds. `steps`, when given, overrides the paper's own choice of training steps.
@dataclass(frozen=True)
class RunConfig:
    seed: int = 0
    quick: bool = False
    steps: int | None = None

    # Pick between the full-run and quick-run value of a setting.
    def choose(self, full: T, quick: T) -> T:
        return quick if self.quick else full

    # Training steps: the command line's `--steps` wins, otherwise the mode's default.
    def train_steps(self, full: int, quick: int) -> int:
        if self.steps is not None:
            return self.steps
        return self.choose(full, quick)


# <a id="Outcome"></a>
# What an experiment returns. `metrics` must be JSON-serialisable (numbers, strings, lists, dicts);
# `figures` maps a name to a matplotlib figure, saved as `results/<paper>-<name>.png`
# (or `results/<paper>.png` for the name `""`).
@dataclass
class Outcome:
    headline: str
    metrics: dict[str, Any]
    figures: dict[str, Figure] = field(default_factory=dict)


# ## Seeding and determinism
#
# One seed drives Python's, NumPy's and PyTorch's generators, and PyTorch is asked to refuse
# non-deterministic kernels, so a run is reproducible on the same machine and thread count.
def seed_everything(seed: int) -> None:
    if seed < 0:
        raise ValueError(f"seed must be non-negative, got {seed}")
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True)


# ## The command line
#
# `python papers/<area>/<name>.py [--seed N] [--steps N] [--quick] [--out DIR]`. A quick run saves nothing
# unless `--out` names a folder, so it can never overwrite the results a full run produced.
def parse_args(description: str, argv: list[str] | None = None) -> tuple[RunConfig, Path | None]:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--steps", type=int, default=None, help="training steps (default: the paper's own)")
    parser.add_argument("--quick", action="store_true", help="the small, fast version of the experiment")
    parser.add_argument("--out", type=Path, default=None, help="folder for results (default: next to the paper)")
    args = parser.parse_args(argv)
    if args.steps is not None and args.steps <= 0:
        parser.error(f"--steps must be positive, got {args.steps}")
    if args.seed < 0:
        parser.error(f"--seed must be non-negative, got {args.seed}")
    return RunConfig(seed=args.seed, quick=args.quick, steps=args.steps), args.out


# ## The code fingerprint
#
# Results are stale when the code that produced them changes, and only then. The fingerprint hashes the
# *abstract syntax tree* of the paper's file and of every `papers.*` module it imports, directly or through
# other project modules. Parsing drops comments; docstrings are removed from the tree before hashing; so
# editing the prose on a page keeps its results valid, while editing a line of code invalidates them.
def _strip_docstrings(tree: ast.AST) -> ast.AST:
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
                    and isinstance(body[0].value.value, str):
                node.body = body[1:] or [ast.Pass()]
    return tree


def code_hash(source: str) -> str:
    tree = _strip_docstrings(ast.parse(source))
    return hashlib.sha256(ast.unparse(tree).encode()).hexdigest()


# The project modules a file imports, as files. `import papers.x.y`, `from papers.x import y` (where `y` is a
# module or a name in `papers/x/__init__.py`) and relative imports are all followed, and so are the packages'
# `__init__.py` files that the import runs.
def _module_file(name: str) -> Path | None:
    base = REPO_ROOT.joinpath(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _package_of(path: Path) -> list[str]:
    parts = list(path.resolve().relative_to(REPO_ROOT).with_suffix("").parts)
    return parts[:-1]


def imported_project_files(path: Path) -> set[Path]:
    found: set[Path] = set()
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                package = _package_of(path)[: len(_package_of(path)) - node.level + 1]
                module = ".".join(package + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            names = [module] + [f"{module}.{alias.name}" for alias in node.names]
        for name in names:
            if name == "papers" or name.startswith("papers."):
                found |= _files_run_by_import(name)
    return found


# Importing `papers.a.b` runs `papers/__init__.py`, `papers/a/__init__.py` and `papers/a/b.py`.
def _files_run_by_import(name: str) -> set[Path]:
    parts = name.split(".")
    files = (_module_file(".".join(parts[:i])) for i in range(1, len(parts) + 1))
    return {file.resolve() for file in files if file is not None}


def code_fingerprint(paper_file: str | Path) -> tuple[str, list[str]]:
    """Hash of the paper's code and the project code it depends on, with the files that went into it."""
    start = Path(paper_file).resolve()
    seen: set[Path] = set()
    pending = [start]
    while pending:
        file = pending.pop()
        if file in seen:
            continue
        seen.add(file)
        pending.extend(imported_project_files(file) - seen)
    files = sorted(seen, key=lambda p: p.relative_to(REPO_ROOT).as_posix())
    digest = hashlib.sha256()
    for file in files:
        digest.update(file.relative_to(REPO_ROOT).as_posix().encode())
        digest.update(code_hash(file.read_text(encoding="utf-8")).encode())
    return digest.hexdigest(), [f.relative_to(REPO_ROOT).as_posix() for f in files]


# ## Where results live
#
# `papers/<area>/<name>.py` saves to `papers/<area>/results/<name>.json` and `<name>[-figure].png`.
def results_path(paper_file: str | Path, out_dir: Path | None = None) -> Path:
    paper = Path(paper_file).resolve()
    folder = out_dir if out_dir is not None else paper.parent / "results"
    return folder / f"{paper.stem}.json"


def figure_path(paper_file: str | Path, name: str, out_dir: Path | None = None) -> Path:
    json_path = results_path(paper_file, out_dir)
    stem = json_path.stem if not name else f"{json_path.stem}-{name}"
    return json_path.with_name(f"{stem}.png")


# The run's cost: wall-clock seconds, the CPU seconds of the process (all threads), and the machine's load
# average, since a wall time measured on a busy machine says little about the experiment.
@dataclass(frozen=True)
class RunCost:
    wall_s: float
    cpu_s: float
    load_average: float


# `fingerprint` is the code's fingerprint taken when the run *started*: if the code is edited while the
# experiment runs, the results are recorded against the code that produced them, and show as stale.
def save_outcome(paper_file: str | Path, outcome: Outcome, config: RunConfig, cost: RunCost,
                 fingerprint: tuple[str, list[str]], out_dir: Path | None = None) -> Path:
    fingerprint_hash, files = fingerprint
    path = results_path(paper_file, out_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    figures = []
    for name, fig in outcome.figures.items():
        target = figure_path(paper_file, name, out_dir)
        fig.savefig(target, dpi=110, bbox_inches="tight")
        figures.append(target.name)
    record = {
        "paper": Path(paper_file).resolve().relative_to(REPO_ROOT).as_posix(),
        "headline": outcome.headline,
        "metrics": outcome.metrics,
        "seed": config.seed,
        "quick": config.quick,
        "steps": config.steps,
        "runtime_s": round(cost.wall_s, 1),
        "cpu_time_s": round(cost.cpu_s, 1),
        "load_average": round(cost.load_average, 1),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "fingerprint": fingerprint_hash,
        "fingerprint_files": files,
        "figures": figures,
    }
    path.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    return path


# ## The entry point of every paper script
def run_paper(paper_file: str, experiment: Callable[[RunConfig], Outcome],
              argv: list[str] | None = None) -> Outcome:
    config, out_dir = parse_args(f"Run the {Path(paper_file).stem} experiment.", argv)
    seed_everything(config.seed)
    fingerprint = code_fingerprint(paper_file)

    # labml's experiment gives the progress display and keeps a log under `logs/` (git-ignored).
    from labml import experiment as labml_experiment  # pylint: disable=import-outside-toplevel
    labml_experiment.create(name=Path(paper_file).stem, writers={"screen"})
    started, cpu_started = time.perf_counter(), time.process_time()
    with labml_experiment.start():
        outcome = experiment(config)
    cost = RunCost(time.perf_counter() - started, time.process_time() - cpu_started, os.getloadavg()[0])

    print(f"\n{outcome.headline}")
    print(json.dumps(outcome.metrics, indent=2))
    print(f"run time: {cost.wall_s:.1f} s wall, {cost.cpu_s:.1f} s CPU, load average {cost.load_average:.1f}")
    if not config.quick or out_dir is not None:
        path = save_outcome(paper_file, outcome, config, cost, fingerprint, out_dir)
        print(f"results: {path}")
    sys.stdout.flush()
    return outcome
