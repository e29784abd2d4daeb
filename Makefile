# Two commands set everything up on a machine with Python >= 3.11 and make:
#   make lab    create .venv if needed, install the course, open JupyterLab
#   make test   the same set-up plus the test tools (and Chromium where it can
#               be installed), then the whole test suite
# Both are idempotent: when pyproject.toml has not changed since the last
# install, the set-up steps do nothing.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.course-installed
TEST_STAMP := $(VENV)/.test-tools-installed
LAB_ARGS ?=
# Jupyter refuses to run as root unless told; containers and CI often are root.
ALLOW_ROOT := $(if $(filter 0,$(shell id -u 2>/dev/null)),--allow-root,)
PYTEST_ARGS ?=
# Two test processes (pytest-xdist), each taking whole files: a notebook's
# cells share one kernel, so they must stay in one process, in order. On two
# cores this halves the suite's time (bench/RESULTS.md). PYTEST_JOBS=0: one
# process.
PYTEST_JOBS ?= 2

.PHONY: lab test bench notebooks exercises site lint format clean help

help:
	@echo "make lab    set up (first time: about a minute) and open JupyterLab on the course"
	@echo "make test   set up and run the whole test suite"
	@echo "make notebooks  re-execute lessons and solutions, save outputs, rebuild exercises/"
	@echo "make exercises  regenerate exercises/ from solutions/"
	@echo "make site  the course as a website in build/site/ (lessons, exercises, API docs)"
	@echo "make bench  the performance harness (about 20 minutes); writes bench/RESULTS.md"
	@echo "make lint   ruff over code and notebooks;  make format  fix formatting"

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null || { \
	  echo "This course needs Python 3.11 or newer (FastAPI 0.165 does); '$(PYTHON)' is $$($(PYTHON) --version 2>&1 || echo missing)."; \
	  echo "Install a newer Python, or point make at one: make $(MAKECMDGOALS) PYTHON=python3.12"; \
	  exit 1; }
	@echo "==> creating $(VENV) with $$($(PYTHON) --version)"
	@$(PYTHON) -m venv $(VENV)

# Quiet: pip still reports errors, but not the build backend's notes (a
# screenful from setuptools about editable installs, on every first run).
PIP_INSTALL := PYTHONWARNINGS=ignore $(BIN)/python -m pip install --quiet

$(STAMP): pyproject.toml | $(BIN)/python
	@echo "==> installing the course into $(VENV) (first time: under a minute)"
	@$(BIN)/python -m pip install --quiet --upgrade pip
	@$(PIP_INSTALL) --editable .
	@touch $(STAMP)
	@echo "==> set-up done"

# What a learner doesn't need: pytest, nbval, ruff, Playwright...
$(TEST_STAMP): $(STAMP)
	@echo "==> installing the test tools into $(VENV)"
	@$(PIP_INSTALL) --editable ".[test]"
	@touch $(TEST_STAMP)

# The page JupyterLab opens on: how the course works and what to open first.
START_PAGE ?= notebooks/00_start_here.ipynb
lab: $(STAMP)
	@echo "==> starting JupyterLab on $(START_PAGE) (stop it with Ctrl-C)"
	@$(BIN)/python -m coursekit.lab --ServerApp.root_dir="$(CURDIR)" \
	  --LabApp.default_url=/lab/tree/$(START_PAGE) $(ALLOW_ROOT) $(LAB_ARGS)

# The browser tests need Chromium, the grading sandbox's tests bubblewrap,
# the production chapter's tests PostgreSQL, Redis and nginx: found, or
# installed with apt-get where we run as root (CI, containers), else they are
# skipped (CI: they fail).
test: $(TEST_STAMP)
	@$(BIN)/python tests/browser/chromium.py
	@$(BIN)/python tests/bubblewrap.py
	@$(BIN)/python tests/servers.py
	@$(BIN)/python tests/hub_proxy.py
	@$(BIN)/python -m pytest --numprocesses=$(PYTEST_JOBS) --dist=loadfile $(PYTEST_ARGS)

# Benchmarks, outside `make test`: several runs of each measurement, side by
# side; prints one table and writes it to bench/RESULTS.md. Uses wrk when it
# is installed, else Locust. BENCH_ARGS="--only serving --quick" to try one.
BENCH_ARGS ?=
bench: $(TEST_STAMP)
	@$(BIN)/python -m bench $(BENCH_ARGS)

# The saved outputs are what nbval compares against in `make test`.
NOTEBOOKS ?= notebooks/*.ipynb $(wildcard solutions/*.ipynb)
notebooks: $(TEST_STAMP)
	@$(BIN)/ruff format --quiet $(NOTEBOOKS)
	@$(BIN)/coursekit run $(NOTEBOOKS)
	@$(BIN)/coursekit build

# exercises/ is generated from solutions/; a test fails when it is stale.
exercises: $(STAMP)
	@$(BIN)/coursekit build

# The course as a static website (coursekit/site.py), from the saved
# outputs; .github/workflows/site.yml publishes it on GitHub Pages.
site: $(STAMP)
	@$(BIN)/coursekit site --out build/site

lint: $(TEST_STAMP)
	@$(BIN)/ruff check . && $(BIN)/ruff format --check .

format: $(TEST_STAMP)
	@$(BIN)/ruff check --fix . && $(BIN)/ruff format .

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
