# Short names for the README's commands. Everything installs from nothing into
# .venv (the tap and its dev tools) and .venv-meltano (Meltano, kept apart because its
# dependencies pin differently from singer-sdk's).
PYTHON ?= python3.11
VENV := .venv
MELTANO_VENV := .venv-meltano
PY := $(VENV)/bin/python
MELTANO := $(MELTANO_VENV)/bin/meltano
DEMO_PORT ?= 8765

.PHONY: all demo test lint typecheck unit suite timeshift generate benchmark clean dist

all: test

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --upgrade "pip>=25.1"
	$(VENV)/bin/python -m pip install --quiet -e ".[aws]" --group dev --group orchestrate
	touch $@

# Quiet: pip's errors only (-qq), one line to say what is installing.
$(MELTANO_VENV)/.installed:
	@echo "Installing Meltano 4.4.1 into $(MELTANO_VENV) (once)"
	@$(PYTHON) -m venv $(MELTANO_VENV)
	@$(MELTANO_VENV)/bin/python -m pip install -qq --upgrade pip
	@$(MELTANO_VENV)/bin/python -m pip install -qq "meltano[postgres]==4.4.1"
	@touch $@

## demo: install everything, run tap-spapi -> DuckDB against the local stand-in, show row counts
demo: $(VENV)/.demo-installed $(MELTANO_VENV)/.installed
	@$(PY) scripts/demo.py --meltano $(MELTANO) --port $(DEMO_PORT)

# What the demo needs in .venv: the stand-in (typing_extensions) and DuckDB to print the
# table. Meltano installs the tap into a virtualenv of its own (meltano.yml: `pip_url: -e .`).
$(VENV)/.demo-installed:
	@echo "Installing the demo's stand-in and DuckDB into $(VENV) (once)"
	@$(PYTHON) -m venv $(VENV)
	@$(VENV)/bin/python -m pip install -qq "typing_extensions>=4.12" "duckdb>=1.1"
	@touch $@

## dist: the wheel and the sdist in dist/ (what `meltano add` installs the tap from, README)
dist: $(VENV)/.installed
	$(PY) -m build --outdir dist

## test: lint, type-check and run every test, the slow and end-to-end ones too (what CI runs)
test: lint typecheck suite

## lint: ruff, and the layers of tap_spapi (import-linter: pyproject's [tool.importlinter])
lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports

## typecheck: mypy, strict on the code; tests/ may leave test functions unannotated
## (pytest fixtures) but their bodies are checked (see pyproject's [tool.mypy])
typecheck: $(VENV)/.installed
	$(VENV)/bin/mypy tap_spapi spapi_standin scripts benchmarks orchestrate testkit.py
	$(VENV)/bin/mypy --allow-untyped-defs --check-untyped-defs tests/conftest.py tests/unit \
		tests/standin tests/tap
	$(VENV)/bin/mypy --allow-untyped-defs --check-untyped-defs tests/e2e  # its own conftest

## unit: the tap's parts and the stand-in, no tap run (tests/unit, tests/standin): run it while working
unit: $(VENV)/.installed
	$(PY) -m pytest tests/unit tests/standin

## suite: every tier, the tap against the stand-in and end to end through Meltano and
## PostgreSQL included, on $(WORKERS) workers; prints the slowest tests and branch coverage
WORKERS ?= 4
suite: $(VENV)/.installed $(MELTANO_VENV)/.installed
	MELTANO_BIN=$(abspath $(MELTANO)) $(PY) -m pytest -n $(WORKERS) --dist loadgroup \
		--durations=25 --cov=tap_spapi --cov=spapi_standin --cov-branch --cov-report=term:skip-covered

## timeshift: the date-dependent modules again with the wall clock moved by SHIFT
## (libfaketime), so a test that depends on the day fails the day it is written (CI runs SHIFT=+400d)
SHIFT ?= +400d
TIMESHIFT_MODULES := tests/tap/test_reports.py tests/tap/test_streams.py tests/e2e/test_resume.py \
	tests/standin/test_standin.py
timeshift: $(VENV)/.installed
	FAKETIME_DONT_FAKE_MONOTONIC=1 PYTHONPATH=tests/faketime \
		faketime -f '$(SHIFT)' $(PY) -m pytest -n $(WORKERS) --dist loadgroup $(TIMESHIFT_MODULES)

## generate: regenerate schemas and the operation tables from the vendored models/
generate: $(VENV)/.installed
	$(PY) scripts/generate_from_models.py

## benchmark: pacing, throughput, accounts and shards tables (not part of the test suite)
benchmark: $(VENV)/.installed
	$(PY) benchmarks/run.py pacing
	$(PY) benchmarks/run.py throughput
	$(PY) benchmarks/run.py accounts
	$(PY) benchmarks/run.py shards

clean:
	rm -rf $(VENV) $(MELTANO_VENV) .meltano output
