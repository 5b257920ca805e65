# cachelab: `make lab` opens the notebooks, `make test` runs every test. Both set everything up.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cksum < pyproject.toml | cut -d' ' -f1)
export PIP_DISABLE_PIP_VERSION_CHECK := 1

# Test files run in parallel on this many pytest-xdist workers (1 = serially, in one process).
TEST_WORKERS ?= auto
XDIST := $(if $(filter 1,$(TEST_WORKERS)),,-n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder)
# The edit-test loop: unit tests and notebooks 00-02, no browser.
QUICK := tests/test_*.py tests/notebooks/test_0[0-2]_*.py tests/notebooks/test_house_rules.py \
  -m "not slow"

.PHONY: help lab venv test test-quick test-stress redis redis-stop doctor reset html lint strip bench \
  screenshots clean

help:
	@echo "make lab    - set up .venv, make sure Redis runs, open JupyterLab at notebook 00"
	@echo "make test   - set up .venv, make sure Redis runs, run the whole test suite (FAST mode)"
	@echo "make test-quick  - unit tests + notebooks 00-02, no browser (the edit-test loop)"
	@echo "make test-stress - the timing-prone tests RUNS times with every core busy"
	@echo "make doctor | reset | html | lint | strip | bench | screenshots | redis-stop | clean"

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 10))' || \
	  { echo "cachelab needs Python >= 3.10; found $$($(PYTHON) --version 2>&1). Set PYTHON=python3.12 or similar."; exit 1; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	@rm -f $(VENV)/.installed-*
	@touch $@

# The environment alone (.ci/run times it as its own phase).
venv: $(STAMP)

# Prints the URL connect() will use; starts cachelab's own redis-server when nothing answers.
# Running it twice reuses the first server.
redis: $(STAMP)
	@$(BIN)/cachelab redis url

lab: redis
	$(BIN)/jupyter lab --ServerApp.ip=127.0.0.1 $(if $(filter 0,$(shell id -u)),--allow-root) \
	  notebooks/00_start_here.ipynb

test: redis
	CACHELAB_FAST=1 $(BIN)/python -m pytest $(XDIST) $(PYTEST_ARGS)

test-quick: redis
	CACHELAB_FAST=1 $(BIN)/python -m pytest $(XDIST) $(QUICK) $(PYTEST_ARGS)

# RUNS rounds (default 10) within BUDGET_S seconds; see tools/stress-test.sh.
test-stress: redis
	tools/stress-test.sh $(or $(RUNS),10) $(or $(BUDGET_S),5400)

doctor: $(STAMP)
	@$(BIN)/cachelab doctor

reset: redis
	@$(BIN)/cachelab reset

redis-stop: $(STAMP)
	@$(BIN)/cachelab redis stop

lint: $(STAMP)
	$(BIN)/ruff check .

# Strip outputs and execution counts from every notebook, in place.
strip: $(STAMP)
	$(BIN)/python tools/nbnormalize.py notebooks/*.ipynb

bench: redis
	@for b in benchmarks/*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

# Read-only HTML of every notebook with its outputs, executed on this machine.
html: redis
	@mkdir -p build/html
	PLOTLY_RENDERER=notebook $(BIN)/jupyter nbconvert --to html --execute --ExecutePreprocessor.timeout=1800 \
	  --output-dir build/html notebooks/*.ipynb

# Copy the screenshots the browser tests took (build/screenshots) to docs/ for the README.
screenshots:
	@ls build/screenshots/*.png >/dev/null 2>&1 || { echo "run make test first (the browser tests take them)"; exit 1; }
	cp build/screenshots/*.png docs/screenshots/

clean:
	rm -rf build .pytest_cache .ruff_cache
