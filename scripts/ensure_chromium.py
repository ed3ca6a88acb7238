"""Make sure a Chromium binary exists for the browser test of the site (`make check` runs this first).

Quick when Chromium is already there: it only looks on the PATH. Otherwise, as root on a machine with
apt-get (Debian, Ubuntu), it installs Debian's `chromium` package and says so; anywhere else it explains
what to install, and exits with an error in CI (where the browser test must run) or lets the test skip.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys

# The names Chromium goes by on the PATH, the Debian package's first.
CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")
PACKAGES = ("chromium",)


def find_chromium() -> str | None:
    """The path of a Chromium binary, or None. `CHROMIUM` in the environment wins when it names a file."""
    explicit = os.environ.get("CHROMIUM")
    if explicit and os.path.isfile(explicit):
        return explicit
    for name in CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    return None


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("true", "1")


def can_install() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0 and shutil.which("apt-get") is not None


def run(command: list[str]) -> None:
    print("$", " ".join(command), flush=True)
    subprocess.run(command, check=True, env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})


def main() -> int:
    found = find_chromium()
    if found:
        print(f"chromium: {found}")
        return 0
    if not can_install():
        print("chromium: not found. Install Debian's `chromium` package (or Google Chrome), or set CHROMIUM "
              "to its path; until then the browser test is skipped (and fails in CI).", file=sys.stderr)
        return 1 if in_ci() else 0
    print("chromium: not found; installing Debian's package with apt-get")
    run(["apt-get", "update"])
    run(["apt-get", "install", "-y", "--no-install-recommends", *PACKAGES])
    found = find_chromium()
    if not found:
        print("chromium: apt-get finished but no chromium binary is on the PATH", file=sys.stderr)
        return 1
    print(f"chromium: {found}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
