# Entry points. `make help` lists them. Everything installs into .venv from requirements.lock.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
UV_VERSION := 0.13.9
STAMP := $(VENV)/.synced-$(shell sha1sum requirements.lock | cut -c1-12)
export PYTHONPATH := $(CURDIR)
export DATA_DIR ?= $(CURDIR)/data
export GX_ANALYTICS_ENABLED := false
export DBT_SEND_ANONYMOUS_USAGE_STATS := false
SCALE ?= demo
SEED ?= 1
DLT_VENV := .venv-dlt
DLT_STAMP := $(DLT_VENV)/.synced-$(shell sha1sum bench/requirements-dlt.txt | cut -c1-12)

.DEFAULT_GOAL := help
.PHONY: help install demo run up browser test test-fast test-reliability bench lint format sandbox answer-key transform lock clean

help: ## list the entry points
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): requirements.lock | $(BIN)/python
	@echo "installing uv $(UV_VERSION), then $$(grep -c '^[A-Za-z0-9]' requirements.lock) packages from requirements.lock into $(VENV) (a few minutes the first time)"
	$(BIN)/python -m pip install -q --disable-pip-version-check uv==$(UV_VERSION)
	# --compile-bytecode: imports never pay for compiling, even where PYTHONDONTWRITEBYTECODE is set (DAG parses, dbt runs).
	# Not -q: uv shows its progress and names what it installs.
	$(BIN)/uv pip sync --compile-bytecode --python $(BIN)/python requirements.lock
	rm -f $(VENV)/.synced-* && touch $@

# The dbt manifest the transform DAG renders its tasks from (as in the image): rebuilt when the project changes.
MANIFEST := dbt_project/target/manifest.json
$(MANIFEST): $(STAMP) $(shell find dbt_project/dbt_project.yml dbt_project/profiles.yml dbt_project/models dbt_project/macros dbt_project/tests -type f)
	@echo "dbt: parsing the project (the manifest the transform DAG renders its tasks from)"
	@$(BIN)/python -m pipeline.dbt parse --quiet

install: $(STAMP) $(MANIFEST) ## create .venv from the python3 on PATH (or PYTHON=...), install the lock, parse dbt

demo: install ## the sandbox at SCALE (default demo) through the DAGs into $DATA_DIR/demo-SCALE-SEED/; ends with the summary
	$(BIN)/python -m sandbox demo --scale $(SCALE) --seed $(SEED)

run: install ## the DAGs against the AIRFLOW_CONN_* sources, ending with the summary: make run START=2026-03-01 END=2026-04-01
	$(BIN)/python -m pipeline.run $(if $(START),--start $(START)) $(if $(END),--end $(END))

up: install ## Airflow (scheduler, DAG processor, triggerer, API server) on 127.0.0.1:8080 over these DAGs, the sandbox at SCALE behind them
	$(BIN)/python -m sandbox up --scale $(SCALE) --seed $(SEED)

browser: ## install Debian's chromium if missing (the report's screenshot test uses it; needs root)
	@command -v chromium >/dev/null || (apt-get update -qq && apt-get install -y -qq chromium >/dev/null) || echo "chromium not installed: the screenshot test will be skipped"

# Progress per test file (not -q's bare dots) and the 15 slowest tests at the end.
PYTEST_PROGRESS := -o console_output_style=progress --durations=15

test: install ## the whole test suite (what CI runs)
	$(BIN)/python -m pytest $(PYTEST_PROGRESS)

test-fast: install ## tests not marked slow
	$(BIN)/python -m pytest $(PYTEST_PROGRESS) -m "not slow"

test-reliability: install ## kills, heavy faults, readers, drift, bad finance, calendar edges (RELIABILITY_KILLS=20 RELIABILITY_READER_RUNS=5)
	RELIABILITY_REPORT=$(DATA_DIR)/bench/reliability.json $(BIN)/python -m pytest -q -s -m reliability tests/reliability

# dlt is the benchmark's peer loader only: its own venv, never in the project's lock.
$(DLT_STAMP): bench/requirements-dlt.txt
	$(PYTHON) -m venv $(DLT_VENV)
	$(DLT_VENV)/bin/python -m pip install -q --disable-pip-version-check -r bench/requirements-dlt.txt
	rm -f $(DLT_VENV)/.synced-* && touch $@

bench: install $(DLT_STAMP) ## time every stage at SCALE (default demo; large once per change aimed at it) beside its references -> data/bench/
	$(BIN)/python -m bench --scale $(SCALE) --seed $(SEED)

lint: install ## ruff lint + format check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install ## apply ruff fixes and formatting
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

sandbox: install ## serve the vendor emulators at SCALE until Ctrl-C
	$(BIN)/python -m sandbox serve --scale $(SCALE) --seed $(SEED)

answer-key: install ## write the answer key of SCALE/SEED under data/answer-key/
	$(BIN)/python -m sandbox answer-key --scale $(SCALE) --seed $(SEED) --out $(DATA_DIR)/answer-key/$(SCALE)-$(SEED)

transform: install ## dbt build (models, unit tests, data tests) against the warehouse in DATA_DIR
	$(BIN)/python -m pipeline.dbt build

lock: ## re-resolve requirements.lock from pyproject.toml (needs uv)
	$(BIN)/uv pip compile pyproject.toml --group dev --universal --python-version 3.11 --no-header -q -o requirements.lock

clean: ## remove generated data (keeps .venv)
	rm -rf $(DATA_DIR)
