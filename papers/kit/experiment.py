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

`run_paper` adds what a script needs around it: a command line, seeding, a fixed thread count, timing, a labml
experiment for the progress display, and saving. A full run writes `results/<paper>.json` and
`results/<paper>*.png` next to the paper file. The JSON records the numbers, the seed, the run time (wall clock
and CPU), the thread count, the machine's CPU, vector kernels and BLAS, and a *fingerprint* of the code that
produced them. [`scripts/tracker.py check`](../../scripts/tracker.py) recomputes the fingerprint and refuses a
ticked paper whose results are stale.
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
import textwrap
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
# `python papers/<area>/<name>.py [--seed N] [--steps N] [--quick] [--threads N] [--out DIR]`. A quick run
# saves nothing unless `--out` names a folder, so it can never overwrite the results a full run produced.
#
# Runs use **one thread** unless told otherwise: the committed results and the tests' thresholds were measured
# single-threaded, and a second thread changes the order of floating-point sums (so the numbers, in their last
# bits at first and then, through training, further). The results file records the thread count.
@dataclass(frozen=True)
class CommandLine:
    config: RunConfig
    out_dir: Path | None
    threads: int


def parse_args(description: str, argv: list[str] | None = None) -> CommandLine:
    parser = argparse.ArgumentParser(description=description,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--steps", type=int, default=None, help="training steps (default: the paper's own)")
    parser.add_argument("--quick", action="store_true",
                        help="the small, fast version of the experiment that the tests run; saves nothing")
    parser.add_argument("--threads", type=int, default=1,
                        help="CPU threads for PyTorch (default 1, as the committed results were measured)")
    parser.add_argument("--out", type=Path, default=None,
                        help="folder for results (default: the paper's results/ folder, replacing the committed "
                             "results)")
    args = parser.parse_args(argv)
    if args.steps is not None and args.steps <= 0:
        parser.error(f"--steps must be positive, got {args.steps}")
    if args.seed < 0:
        parser.error(f"--seed must be non-negative, got {args.seed}")
    if args.threads <= 0:
        parser.error(f"--threads must be positive, got {args.threads}")
    return CommandLine(RunConfig(seed=args.seed, quick=args.quick, steps=args.steps), args.out, args.threads)


# `--help` says what the experiment is (the page's title and summary, from its front matter), how long its full
# run took last time, and where its output goes.
def describe(paper_file: str | Path) -> str:
    paper = Path(paper_file).resolve()
    front = front_matter(ast.get_docstring(ast.parse(paper.read_text(encoding="utf-8")), clean=True) or "")
    lines = [front.get("title", paper.stem)]
    if "summary" in front:
        lines.append(front["summary"])
    recorded = results_path(paper)
    if recorded.is_file():
        record = json.loads(recorded.read_text(encoding="utf-8"))
        lines.append(f"The full run took {record['runtime_s']:.0f} s on {record.get('torch_threads', 1)} "
                     f"thread(s) last time.")
    lines.append(f"Its output replaces the committed results in {recorded.parent.relative_to(REPO_ROOT)}/ "
                 f"unless --out names another folder; --quick saves nothing.")
    return "\n\n".join(textwrap.fill(line, 100) for line in lines)


# The `key: value` lines between the `---` fences at the top of a page; a value may continue on indented lines.
def front_matter(docstring: str) -> dict[str, str]:
    lines = [line.rstrip() for line in docstring.strip().splitlines()]
    if not lines or lines[0] != "---" or "---" not in lines[1:]:
        return {}
    fields: dict[str, str] = {}
    key = ""
    for line in lines[1:lines.index("---", 1)]:
        if line[:1].isspace() and key:
            fields[key] += " " + line.strip()
        elif ":" in line:
            key, _, value = line.partition(":")
            key = key.strip()
            fields[key] = value.strip()
    return {key: value.strip('"') for key, value in fields.items()}


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


# ## Comparisons over seeds
#
# A claim that compares arms (with and without, A against B) is reported over at least three seeds: each seed's
# value, their mean and their spread go into the results file, and the page quotes those numbers.
def over_seeds(per_seed: dict[int, float]) -> dict[str, Any]:
    """`{seed: value}` -> `{"per_seed": ..., "mean": ..., "std": ..., "min": ..., "max": ...}` (std with n - 1)."""
    if len(per_seed) < 2:
        raise ValueError(f"a comparison over seeds needs at least two seeds, got {sorted(per_seed)}")
    values = np.array(list(per_seed.values()), dtype=float)
    return {"per_seed": {str(seed): round(float(v), 4) for seed, v in per_seed.items()},
            "mean": round(float(values.mean()), 4), "std": round(float(values.std(ddof=1)), 4),
            "min": round(float(values.min()), 4), "max": round(float(values.max()), 4)}


# The page's numbers are checked against the results file by the tests, not by eye: a test formats a recorded
# metric as the prose writes it and asks whether the page says it (`quoted_on_page(paper, f"{m:.0%}")`).
def recorded_metrics(paper_file: str | Path) -> dict[str, Any]:
    path = results_path(paper_file)
    if not path.is_file():
        raise FileNotFoundError(f"no results recorded for {Path(paper_file).name}: run its full experiment")
    return json.loads(path.read_text(encoding="utf-8"))["metrics"]


def quoted_on_page(paper_file: str | Path, text: str) -> bool:
    """Whether the page's prose (its docstrings and comments, whitespace and `#` folded) contains `text`."""
    source = Path(paper_file).read_text(encoding="utf-8")
    prose = " ".join(line.strip().lstrip("#").strip() for line in source.splitlines())
    return " ".join(text.split()) in " ".join(prose.split())


# The run's cost: wall-clock seconds, the CPU seconds of the process (all threads), and the machine's load
# average, since a wall time measured on a busy machine says little about the experiment.
@dataclass(frozen=True)
class RunCost:
    wall_s: float
    cpu_s: float
    load_average: float


# The machine's floating point: the CPU, the vectorised kernels PyTorch chose (`AVX512`, `AVX2` or `DEFAULT`,
# which `ATEN_CPU_CAPABILITY` can lower) and the BLAS it calls. Two runs that differ here can differ in their
# numbers, which is why claims are tested over seeds and with a margin (CONTRIBUTING.md).
def machine() -> dict[str, str]:
    build = torch.__config__.show()
    blas = build.split("BLAS_INFO=", 1)[1].split(",", 1)[0] if "BLAS_INFO=" in build else "unknown"
    return {"cpu": _cpu_model(), "cpu_capability": torch.backends.cpu.get_cpu_capability(), "blas": blas}


def _cpu_model() -> str:
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


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
        **machine(),
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
    command = parse_args(describe(paper_file), argv)
    config, out_dir = command.config, command.out_dir
    torch.set_num_threads(command.threads)
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
    print(f"run time: {cost.wall_s:.1f} s wall, {cost.cpu_s:.1f} s CPU on {command.threads} thread(s), "
          f"load average {cost.load_average:.1f}")
    if not config.quick or out_dir is not None:
        path = save_outcome(paper_file, outcome, config, cost, fingerprint, out_dir)
        print(f"results: {path}")
    sys.stdout.flush()
    return outcome
