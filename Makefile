# selfheal: every operation has a target here. `make help` lists them.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
RUNTIME_STAMP := $(VENV)/.installed-runtime
DEV_STAMP := $(VENV)/.installed-dev
SELFHEAL := $(PY) -m selfheal

.DEFAULT_GOAL := help
.PHONY: help setup install run test lint format init train promote rollback models status clean

help: ## list every target with one line each
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | sort | \
	  awk 'BEGIN {FS = ":.*## "}; {printf "  %-22s %s\n", $$1, $$2}'

$(PY):
	$(PYTHON) -m venv $(VENV)

$(RUNTIME_STAMP): setup.cfg pyproject.toml | $(PY)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -e .
	@touch $@

$(DEV_STAMP): setup.cfg pyproject.toml | $(PY)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -e '.[dev]'
	@touch $@ $(RUNTIME_STAMP)

install: $(RUNTIME_STAMP) ## create .venv and install the runtime dependencies

setup: $(DEV_STAMP) ## create .venv and install runtime + dev dependencies

run: $(RUNTIME_STAMP) ## serve on SELFHEAL_HOST:SELFHEAL_PORT (bootstraps a model if none)
	$(PY) run.py

test: $(DEV_STAMP) ## run the whole test suite
	$(PY) -m pytest -q

lint: $(DEV_STAMP) ## ruff (lint + format check) and mypy
	$(PY) -m ruff check selfheal tests bench run.py
	$(PY) -m ruff format --check selfheal tests bench run.py
	$(PY) -m mypy

format: $(DEV_STAMP) ## format and auto-fix with ruff
	$(PY) -m ruff format selfheal tests bench run.py
	$(PY) -m ruff check --fix selfheal tests bench run.py

init: $(RUNTIME_STAMP) ## migrate and bootstrap v0001 if no model is in production
	$(SELFHEAL) init

train: $(RUNTIME_STAMP) ## train a version: [DATA=file.csv TARGET=col POSITIVE=v SCHEMA=s.json PROMOTE=1]
	$(SELFHEAL) train $(if $(DATA),--data "$(DATA)") $(if $(TARGET),--target "$(TARGET)") \
	  $(if $(POSITIVE),--positive "$(POSITIVE)") $(if $(SCHEMA),--schema "$(SCHEMA)") \
	  $(if $(PROMOTE),--promote)

promote: $(RUNTIME_STAMP) ## promote a version: VERSION=v0002
	@test -n "$(VERSION)" || { echo "make promote: set VERSION, e.g. make promote VERSION=v0002" >&2; exit 2; }
	$(SELFHEAL) promote "$(VERSION)"

rollback: $(RUNTIME_STAMP) ## roll production back to the previous version [TO=v0001]
	$(SELFHEAL) rollback $(if $(TO),--to "$(TO)")

models: $(RUNTIME_STAMP) ## list every version with its status and metrics
	$(SELFHEAL) models

status: $(RUNTIME_STAMP) ## production version, counts and recent events
	$(SELFHEAL) status

clean: ## remove caches and build files (keeps .venv and var/)
	rm -rf .pytest_cache .mypy_cache .ruff_cache build dist *.egg-info htmlcov .coverage
	find . -name __pycache__ -type d -prune -not -path './.venv/*' -exec rm -rf {} +
