"""Calibrate a claim test's threshold: measure its metrics over seeds, thread counts and CPU kernels.

A threshold read off one run on one machine is not calibrated (CONTRIBUTING.md, "Tests that hold on any
machine"). This script runs a metric function in fresh processes under each setting below and prints every
value with its minimum and maximum, so the threshold can be set with a margin against the worst of them:

* 1 thread (how the suite runs, see `tests/conftest.py`);
* 2 threads (other reduction orders inside BLAS and ATen);
* PyTorch's portable kernels (`ATEN_CPU_CAPABILITY=default`, `MKL_CBWR=COMPATIBLE`): the cheap way to see
  what another CPU's vectorised kernels would do.

Usage:

    .venv/bin/python scripts/calibrate.py tests/rnn/test_lstm.py:claim_metrics --seeds 0 1 2 3 4

The function takes a seed and returns a flat dict of numbers, for instance
`{"lstm": 1.0, "rnn": 0.4, "gap": 0.6}`; a claim test usually calls the same function.
"""
from __future__ import annotations

import argparse
import contextlib
import importlib.util
import io
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

SETTINGS: dict[str, tuple[int, dict[str, str]]] = {
    "1 thread": (1, {}),
    "2 threads": (2, {}),
    "portable kernels": (1, {"ATEN_CPU_CAPABILITY": "default", "MKL_CBWR": "COMPATIBLE"}),
}


# Test modules import the tests' shared helpers as `from comparisons import ...`: pytest has `tests/` on the
# path (it holds the root `conftest.py`), and so does this script.
TESTS = Path(__file__).resolve().parents[1] / "tests"


def load_function(spec: str) -> Callable[[int], dict[str, float]]:
    """`path/to/file.py:name` -> the function `name` defined in that file."""
    path, _, name = spec.partition(":")
    if not name or not Path(path).is_file():
        raise SystemExit(f"expected FILE.py:FUNCTION with an existing file, got {spec!r}")
    if str(TESTS) not in sys.path:
        sys.path.insert(0, str(TESTS))
    module_spec = importlib.util.spec_from_file_location(Path(path).stem, path)
    assert module_spec is not None and module_spec.loader is not None
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return getattr(module, name)


def run_child(spec: str, seed: int, threads: int) -> None:
    import torch  # pylint: disable=import-outside-toplevel
    torch.set_num_threads(threads)
    # The measured code may print (labml's progress line ends without a newline): keep it off the JSON line.
    with contextlib.redirect_stdout(io.StringIO()):
        metrics = load_function(spec)(seed)
    print(json.dumps({"capability": torch.backends.cpu.get_cpu_capability(), "metrics": metrics}))


def measure(spec: str, seed: int, threads: int, env: dict[str, str]) -> dict[str, float]:
    command = [sys.executable, __file__, spec, "--child", "--seeds", str(seed), "--threads", str(threads)]
    done = subprocess.run(command, env={**os.environ, **env}, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"seed {seed}, {threads} threads, {env}: failed\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])["metrics"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("function", help="FILE.py:FUNCTION, a function of the seed returning a dict of numbers")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--settings", nargs="+", choices=sorted(SETTINGS), default=list(SETTINGS))
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--threads", type=int, default=1, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        run_child(args.function, args.seeds[0], args.threads)
        return
    table: dict[str, dict[str, list[float]]] = {}
    for setting in args.settings:
        threads, env = SETTINGS[setting]
        for seed in args.seeds:
            started = time.perf_counter()
            metrics = measure(args.function, seed, threads, env)
            print(f"{setting:>16}  seed {seed}  {time.perf_counter() - started:5.1f} s  {metrics}", flush=True)
            for name, value in metrics.items():
                table.setdefault(name, {}).setdefault(setting, []).append(float(value))
    print("\nmetric / setting: values over seeds " + " ".join(map(str, args.seeds)) + "  [min, max]")
    for name, by_setting in table.items():
        everything = [v for values in by_setting.values() for v in values]
        print(f"{name}: overall [{min(everything):.4g}, {max(everything):.4g}]")
        for setting, values in by_setting.items():
            print(f"  {setting:>16}: " + ", ".join(f"{v:.4g}" for v in values))


if __name__ == "__main__":
    main()
