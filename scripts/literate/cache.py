"""The build's caches in `.cache/site/` (parsed files, KaTeX's HTML, compiled templates): safe to delete."""
from __future__ import annotations

import os
from pathlib import Path


# A cache file is replaced whole, so that a build running beside this one (`mkdocs serve` and the tests) never
# reads half of it.
def write_atomically(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f"{path.name}.{os.getpid()}.partial")
    partial.write_bytes(data)
    os.replace(partial, path)
