"""Build a site with the project's mkdocs.yml, hooks and KaTeX, in the real repository or in a throwaway one."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MKDOCS = [sys.executable, "-m", "mkdocs"]


# A repository with the site's machinery and nothing else: mkdocs.yml and docs/ copied, scripts/ and
# node_modules/ linked. Tests add papers, tests and a tracker to it.
def site_repo(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO / "mkdocs.yml", root / "mkdocs.yml")
    shutil.copytree(REPO / "docs", root / "docs")
    for name in ("scripts", "node_modules"):
        (root / name).symlink_to(REPO / name, target_is_directory=True)
    return root


def write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


# `mkdocs build --strict` (or `--dirty`, which MkDocs itself warns about, so not strict).
def build(root: Path, site_dir: Path | None = None, dirty: bool = False) -> subprocess.CompletedProcess[str]:
    command = [*MKDOCS, "build", "--dirty" if dirty else "--strict", "-f", str(root / "mkdocs.yml"),
               "-d", str(site_dir or root / "site")]
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    return subprocess.run(command, cwd=root, env=env, capture_output=True, text=True, timeout=300, check=False)
