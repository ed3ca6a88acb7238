r"""The project's docstring rule, checked over its own Python files (`make check` runs it).

    .venv/bin/python scripts/lint_docstrings.py [PATH ...]

A docstring without an `r` prefix may contain no backslash escape other than `\\`: in a plain `"$\frac{a}{b}$"`
the `\f` is a form feed for Python, so `help()` would show other text than the page (which shows the file as
written). Prints `file:line: reason` for each docstring that breaks the rule and exits with 1 if any does.
Without arguments it checks `papers/`, `scripts/` and `tests/` (except the renderer's deliberately odd inputs in
`tests/site/tricky/`); a folder argument is searched for `*.py` files.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

# pylint: disable=wrong-import-position
from literate.parse import LiterateError, escape_problems  # noqa: E402

FOLDERS = ("papers", "scripts", "tests")
SKIPPED = ("tests/site/tricky/",)


# The files to check: those named, the `*.py` files in the folders named, or by default the project's own.
def python_files(paths: list[Path]) -> list[Path]:
    found: list[Path] = []
    for path in paths or [ROOT / folder for folder in FOLDERS]:
        found += sorted(path.rglob("*.py")) if path.is_dir() else [path]
    return found if paths else [path for path in found if not _shown(path).startswith(SKIPPED)]


# A path as messages show it: relative to the repository when it is inside it.
def _shown(path: Path) -> str:
    resolved = path.resolve()
    return resolved.relative_to(ROOT).as_posix() if resolved.is_relative_to(ROOT) else str(path)


def problems(path: Path) -> list[LiterateError]:
    try:
        return escape_problems(_shown(path), path.read_text(encoding="utf-8"))
    except LiterateError as error:  # a file Python cannot parse: say so, it is a problem too
        return [error]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("paths", nargs="*", type=Path, help="files or folders (default: papers scripts tests)")
    args = parser.parse_args(argv)
    found = [problem for path in python_files(args.paths) for problem in problems(path)]
    for problem in found:
        print(problem)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
