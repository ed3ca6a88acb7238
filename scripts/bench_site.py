r"""How fast the site builds: about 120 paper pages of realistic length, from scratch and after one edit.

    .venv/bin/python scripts/bench_site.py [--pages 120] [--keep DIR]

The pages are variants of the project's own paper files (prose, math, code), spread over ten areas, in a
throwaway repository with this project's mkdocs.yml, docs/, hooks and KaTeX. Each variant's math is made
distinct (a `{}^{k}` in front of every formula), so KaTeX's cache cannot share work between
copies, and relative links are kept only where they still resolve. It prints:

* a cold `mkdocs build --strict` (empty caches in `.cache/site/`: KaTeX, parsed files, compiled templates)
  and a warm one, in a fresh process each, wall and CPU time;
* `mkdocs build --dirty` after editing one page, in a fresh process;
* the same one-page rebuild inside a running process, which is what `mkdocs serve --dirty` does on a change.

The machine's load average is printed too: wall times are only meaningful on an idle machine.
"""
from __future__ import annotations

import argparse
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

# pylint: disable=wrong-import-position
from literate.math import protect_markdown  # noqa: E402
from literate.parse import LiterateError, parse_source  # noqa: E402

AREAS = 10
# Displayed math (which may start on the line after its `$$`), then inline math.
MATH = re.compile(r"(\$\$)(.+?)\$\$|(\$)(?=\S)([^$]+?)(?<=\S)\$", re.DOTALL)
LINK = re.compile(r"(!?)\[([^\]]*)\]\(([^)\s]+)\)")
PNG = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000"
                    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082")


# ## The pages
#
# Templates: every paper file of the project that renders cleanly (a file another author is still fixing, one
# that does not parse or leaves a `$` as text, is skipped).
def templates() -> list[tuple[str, str]]:
    found = []
    for path in sorted((ROOT / "papers").rglob("*.py")):
        if path.name == "__init__.py" or "results" in path.parts:
            continue
        text = path.read_text(encoding="utf-8")
        if renders_cleanly(path.name, text):
            found.append((path.stem, text))
    if not found:
        raise SystemExit("no paper file renders: nothing to benchmark")
    return found


def renders_cleanly(name: str, text: str) -> bool:
    try:
        doc = parse_source(name, text)
    except LiterateError:
        return False
    strays: list[str] = []
    for section in doc.sections:
        protect_markdown(section.markdown, lambda tex, display: "", strays.append)
    return not strays


# One variant: its own title, its own math, figures that exist, and no links to files the copy lacks.
def variant(text: str, index: int, repo: Path, folder: str) -> str:
    text = re.sub(r"^title: (.*)$", rf"title: \1 ({index})", text, count=1, flags=re.MULTILINE)
    text = MATH.sub(lambda m: _distinct(m, index), text)

    def link(match: re.Match[str]) -> str:
        image, label, target = match.groups()
        if re.match(r"[a-z]+:|#", target):
            return match.group(0)
        if image and target.startswith("results/") and target.endswith(".png"):
            figure = repo / folder / target
            figure.parent.mkdir(parents=True, exist_ok=True)
            figure.write_bytes(PNG)
            return match.group(0)
        return label

    return LINK.sub(link, text)


def _distinct(match: re.Match[str], index: int) -> str:
    fence = match.group(1) or match.group(3)
    return f"{fence}{{}}^{{{index}}}{match.group(2) or match.group(4)}{fence}"


def make_repo(repo: Path, pages: int) -> list[Path]:
    repo.mkdir(parents=True)
    shutil.copy(ROOT / "mkdocs.yml", repo / "mkdocs.yml")
    shutil.copytree(ROOT / "docs", repo / "docs")
    for name in ("scripts", "node_modules"):
        (repo / name).symlink_to(ROOT / name, target_is_directory=True)
    sources = templates()
    written = []
    for index in range(pages):
        stem, text = sources[index % len(sources)]
        folder = f"papers/area{index % AREAS:02d}"
        (repo / folder).mkdir(parents=True, exist_ok=True)
        (repo / folder / "__init__.py").write_text(f'"""Area {index % AREAS}."""\n', encoding="utf-8")
        path = repo / folder / f"{stem}_{index:03d}.py"
        path.write_text(variant(text, index, repo, folder), encoding="utf-8")
        written.append(path)
    lines = ["# Tracker", "", "## Benchmark", ""]
    lines += [f"- [x] **B{i}** page {i}: [page]({path.relative_to(repo).as_posix()})"
              for i, path in enumerate(written)]
    (repo / "tracker.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return written


# ## Timing
def timed_build(repo: Path, *options: str) -> tuple[float, float]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    command = [sys.executable, "-m", "mkdocs", "build", *options, "-f", str(repo / "mkdocs.yml")]
    result = subprocess.run(command, cwd=repo, capture_output=True, text=True, check=False,
                            env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if result.returncode != 0:
        raise SystemExit(f"mkdocs build {' '.join(options)} failed:\n{result.stderr[-3000:]}")
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def edit(path: Path) -> None:
    time.sleep(0.01)
    path.write_text(path.read_text(encoding="utf-8").replace("\n# ", "\n# Edited. ", 1), encoding="utf-8")


# What `mkdocs serve --dirty` does on a change, in one warm process: reload the config, build dirty.
def in_process_rebuild(repo: Path, page: Path) -> tuple[float, float]:
    os.environ["NO_MKDOCS_2_WARNING"] = "1"
    from mkdocs.commands.build import build  # pylint: disable=import-outside-toplevel
    from mkdocs.config import load_config  # pylint: disable=import-outside-toplevel

    build(load_config(str(repo / "mkdocs.yml")), dirty=True)  # warm up: imports, caches
    edit(page)
    started, cpu = time.perf_counter(), time.process_time()
    build(load_config(str(repo / "mkdocs.yml")), dirty=True)
    return time.perf_counter() - started, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--pages", type=int, default=120)
    parser.add_argument("--keep", type=Path, default=None, help="work here and keep it (default: a temp dir)")
    args = parser.parse_args()
    folder = args.keep or Path(tempfile.mkdtemp(prefix="bench-site-"))
    repo = folder / "repo"
    try:
        pages = make_repo(repo, args.pages)
        lines = sum(len(p.read_text(encoding="utf-8").splitlines()) for p in pages)
        load = os.getloadavg()[0]
        print(f"{len(pages)} pages, {lines} lines, on {os.cpu_count()} CPUs, load average {load:.1f}")
        for label in ("cold (empty caches)", "warm (caches filled)"):
            wall, cpu = timed_build(repo, "--strict")
            print(f"mkdocs build --strict, {label}: {wall:.1f} s wall, {cpu:.1f} s CPU")
        edit(pages[len(pages) // 2])
        wall, cpu = timed_build(repo, "--dirty")
        print(f"mkdocs build --dirty after editing one page, new process: {wall:.2f} s wall, {cpu:.2f} s CPU")
        wall, cpu = in_process_rebuild(repo, pages[1])
        print(f"one-page rebuild in a running process, as mkdocs serve --dirty: {wall:.2f} s wall, "
              f"{cpu:.2f} s CPU")
    finally:
        if args.keep is None:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
