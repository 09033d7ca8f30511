# selfheal: every operation has a target here. `make help` lists them.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
RUNTIME_STAMP := $(VENV)/.installed-runtime
DEV_STAMP := $(VENV)/.installed-dev
SELFHEAL := $(PY) -m selfheal
STATE := $(or $(SELFHEAL_HOME),var)
PID := $(STATE)/selfheal.pid
LOG := $(STATE)/logs/selfheal.log
N ?= 250
TYPE ?= covariate
DAYS ?= 30

.DEFAULT_GOAL := help
.PHONY: help setup install run start stop restart logs test test-unit test-integration \
	test-coverage lint format quality pre-commit init bootstrap train retrain promote rollback \
	models status monitor report demo bench bench-soak bench-growth bench-scale bench-healing \
	generate-predictions inject-drift send-labels \
	stats health verify backup prune clear-predictions clean clean-data clean-models \
	clean-all quick-start quick-test api-docs replay mutation

help: ## list every target with one line each
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | \
	  awk 'BEGIN {FS = ":.*## "}; {printf "  %-22s %s\n", $$1, $$2}'

$(PY):
	$(PYTHON) -m venv $(VENV)

# setuptools warns on every editable install that a folder named like the package may shadow
# it; here that folder IS the package, so the box is noise on a first run.
QUIET_EDITABLE := PYTHONWARNINGS="ignore:Editable installation"

$(RUNTIME_STAMP): pyproject.toml | $(PY)
	$(PIP) install --quiet --upgrade pip
	$(QUIET_EDITABLE) $(PIP) install --quiet -e .
	@touch $@

$(DEV_STAMP): pyproject.toml | $(PY)
	$(PIP) install --quiet --upgrade pip
	$(QUIET_EDITABLE) $(PIP) install --quiet -e '.[dev]'
	@touch $@ $(RUNTIME_STAMP)

# -- set-up and serving ------------------------------------------------------------------
install: $(RUNTIME_STAMP) ## create .venv and install the runtime dependencies

setup: $(DEV_STAMP) ## create .venv and install runtime + dev dependencies

# WORKERS=N (SELFHEAL_WORKERS): N gunicorn worker processes on the one port; needs
# SELFHEAL_DATABASE_URL (PostgreSQL) and the postgres and server extras, installed here.
RUN_ENV := $(if $(WORKERS),SELFHEAL_WORKERS=$(WORKERS))

run: $(RUNTIME_STAMP) ## serve in the foreground (bootstraps a model if none; WORKERS=N with PostgreSQL); Ctrl-C stops
	@if { [ -n "$(WORKERS)" ] && [ "$(WORKERS)" != 1 ]; } || [ -n "$$SELFHEAL_DATABASE_URL" ]; then \
	  $(PY) -c 'import psycopg, psycopg_pool, gunicorn' 2>/dev/null \
	  || $(QUIET_EDITABLE) $(PIP) install --quiet -e '.[postgres,server]'; fi
	$(RUN_ENV) $(PY) run.py

start: $(RUNTIME_STAMP) ## serve in the background (pid file var/selfheal.pid, log var/logs/)
	@mkdir -p $(dir $(LOG))
	@if [ -f $(PID) ] && kill -0 $$(cat $(PID)) 2>/dev/null; then \
	  echo "already running (pid $$(cat $(PID)))"; exit 0; fi; \
	nohup $(PY) run.py >> $(LOG) 2>&1 & echo $$! > $(PID); \
	for i in $$(seq 1 240); do \
	  if $(SELFHEAL) simulate health -q >/dev/null 2>&1; then \
	    echo "started pid $$(cat $(PID)); log: $(LOG)"; exit 0; fi; \
	  kill -0 $$(cat $(PID)) 2>/dev/null || { echo "run.py exited; see $(LOG)" >&2; \
	    rm -f $(PID); tail -n 5 $(LOG) >&2; exit 1; }; \
	  sleep 0.5; done; echo "not healthy after 120 s; see $(LOG)" >&2; exit 1

stop: ## stop the background server gracefully (SIGTERM: drains writes, exits 0)
	@if [ ! -f $(PID) ]; then echo "not running (no $(PID))"; exit 0; fi; \
	pid=$$(cat $(PID)); kill -TERM $$pid 2>/dev/null || true; \
	for i in $$(seq 1 60); do kill -0 $$pid 2>/dev/null || { rm -f $(PID); \
	  echo "stopped pid $$pid"; exit 0; }; sleep 0.5; done; \
	echo "pid $$pid did not stop within 30 s" >&2; exit 1

restart: stop start ## stop, then start

logs: ## show the server log (FOLLOW=1 to follow)
	@test -f $(LOG) || { echo "no log yet at $(LOG); start the server with make start"; exit 0; }
	@tail -n 200 $(if $(FOLLOW),-F) $(LOG)

# -- tests and quality -----------------------------------------------------------------
test: $(DEV_STAMP) ## run the whole test suite
	$(PY) -m pytest -q

test-unit: $(DEV_STAMP) ## tests that need no server subprocess or browser
	$(PY) -m pytest -q -m "not e2e"

test-integration: $(DEV_STAMP) ## end-to-end tests: real run.py subprocesses, CLI, browser
	$(PY) -m pytest -q -m e2e

test-coverage: $(DEV_STAMP) ## the suite with a coverage report (htmlcov/)
	$(PY) -m pytest -q --cov=selfheal --cov-report=term-missing:skip-covered --cov-report=html

quick-test: $(DEV_STAMP) ## fast check: unit tests, stop at the first failure
	$(PY) -m pytest -q -x -m "not e2e and not slow"

mutation: $(DEV_STAMP) ## mutmut on the decision modules, score per module (minutes each; MODULES=gates JOBS=1)
	$(PIP) install --quiet 'mutmut>=3.8,<4'
	$(PY) tools/mutation.py $(MODULES) --jobs $(or $(JOBS),1)

lint: $(DEV_STAMP) ## ruff (lint + format check) and mypy
	$(PY) -m ruff check selfheal tests bench tools run.py
	$(PY) -m ruff format --check selfheal tests bench tools run.py
	$(PY) -m mypy

format: $(DEV_STAMP) ## format and auto-fix with ruff
	$(PY) -m ruff format selfheal tests bench tools run.py
	$(PY) -m ruff check --fix selfheal tests bench tools run.py

quality: lint test ## lint, types and the whole suite

pre-commit: $(DEV_STAMP) ## install the git pre-commit hooks (.pre-commit-config.yaml)
	$(PIP) install --quiet pre-commit
	$(VENV)/bin/pre-commit install

# -- models ----------------------------------------------------------------------------
init: $(RUNTIME_STAMP) ## migrate and bootstrap v0001 if no model is in production
	$(SELFHEAL) init

bootstrap: init ## same as init: reference data and the first model

train: $(RUNTIME_STAMP) ## train a version: [DATA=f.csv TARGET=col POSITIVE=v SCHEMA=s.json CATEGORICAL="a b" CLASSIFIER=hgb PROMOTE=1 CHALLENGE=1 REASON=...]
	$(SELFHEAL) train $(if $(DATA),--data "$(DATA)") $(if $(TARGET),--target "$(TARGET)") \
	  $(if $(POSITIVE),--positive "$(POSITIVE)") $(if $(SCHEMA),--schema "$(SCHEMA)") \
	  $(foreach c,$(CATEGORICAL),--categorical "$(c)") \
	  $(if $(CLASSIFIER),--classifier "$(CLASSIFIER)") $(if $(PROMOTE),--promote) \
	  $(if $(CHALLENGE),--challenge) $(if $(REASON),--reason "$(REASON)")

retrain: $(RUNTIME_STAMP) ## retrain now from recent labeled traffic; the gates decide [REASON=...]
	$(SELFHEAL) retrain $(if $(REASON),--reason "$(REASON)")

promote: $(RUNTIME_STAMP) ## promote a version: VERSION=v0002 [FORCE=1 REASON=...]
	@test -n "$(VERSION)" || { echo "make promote: set VERSION, e.g. make promote VERSION=v0002" >&2; exit 2; }
	$(SELFHEAL) promote "$(VERSION)" $(if $(FORCE),--force) $(if $(REASON),--reason "$(REASON)")

rollback: $(RUNTIME_STAMP) ## roll production back to the previous version [TO=v0001 REASON=...]
	$(SELFHEAL) rollback $(if $(TO),--to "$(TO)") $(if $(REASON),--reason "$(REASON)")

models: $(RUNTIME_STAMP) ## list every version with its status and metrics
	$(SELFHEAL) models

status: $(RUNTIME_STAMP) ## production version, counts and recent events
	$(SELFHEAL) status

monitor: $(RUNTIME_STAMP) ## run one monitor cycle now and print its report [JSON=1]
	$(SELFHEAL) monitor --once $(if $(JSON),--json)

report: $(RUNTIME_STAMP) ## write the drift report of the current window (var/reports/drift/)
	$(SELFHEAL) report

demo: $(RUNTIME_STAMP) ## a narrated 2-minute tour: drift, retrain, rejection, rollback [KEEP=1]
	$(SELFHEAL) demo $(if $(KEEP),--keep)

replay: $(RUNTIME_STAMP) ## replay a labeled CSV through the loop: DATA=f.csv TARGET=col [POSITIVE=v TRAIN_ROWS=n REPORT=out.html]
	@test -n "$(DATA)" -a -n "$(TARGET)" || { echo "make replay: set DATA and TARGET, e.g. make replay DATA=stream.csv TARGET=default" >&2; exit 2; }
	$(SELFHEAL) replay --data "$(DATA)" --target "$(TARGET)" $(if $(POSITIVE),--positive "$(POSITIVE)") \
	  $(if $(TRAIN_ROWS),--train-rows $(TRAIN_ROWS)) $(if $(REPORT),--report "$(REPORT)")

bench: $(DEV_STAMP) ## HTTP and drift benchmarks (ratios against baselines, same run)
	$(PY) bench/http_bench.py
	$(PY) bench/drift_bench.py

bench-soak: $(DEV_STAMP) ## soak: 10 min of load + operator reads + monitor; WAL bound, flat memory
	$(PY) bench/soak_bench.py $(if $(MINUTES),--minutes $(MINUTES),)

bench-growth: $(DEV_STAMP) ## operator reads at 5M vs 5k logged rows, SQLite + PostgreSQL: ratio <= 2x [ARGS=--rows N]
	$(PY) bench/growth_bench.py $(ARGS)

bench-scale: $(DEV_STAMP) ## 1 run.py on SQLite vs 1 and 2 (gunicorn) on PostgreSQL: rps, p99, CPU/req [ARGS=--quick]
	$(PY) bench/scale_bench.py $(ARGS)

bench-healing: ## replay 8 drifting streams vs frozen and ceiling (own venv with River; ~7 min)
	$(PYTHON) bench/healing_bench.py --setup-venv
	bench/.venv-healing/bin/python bench/healing_bench.py --jobs 2 --strict

# -- traffic simulation (against a running server) ------------------------------------
generate-predictions: $(RUNTIME_STAMP) ## send N realistic requests (N=250) [LABELS=1]
	$(SELFHEAL) simulate predict $(N) $(if $(LABELS),--labels)

inject-drift: $(RUNTIME_STAMP) ## drifted traffic: TYPE=covariate|population|concept [N=250]
	$(SELFHEAL) simulate drift $(TYPE) --n $(N)

send-labels: $(RUNTIME_STAMP) ## send the ground truth kept for earlier simulated requests
	$(SELFHEAL) simulate labels

stats: $(RUNTIME_STAMP) ## traffic, latency and performance of the running server
	$(SELFHEAL) simulate stats

health: $(RUNTIME_STAMP) ## readable health summary; non-zero exit when unhealthy
	$(SELFHEAL) simulate health

verify: $(RUNTIME_STAMP) ## check the installation and say what is missing
	$(SELFHEAL) simulate verify

api-docs: $(RUNTIME_STAMP) ## write the API reference page var/api-docs.html (also GET /docs)
	@$(PY) -c "from selfheal.datasets import CREDIT_SCHEMA as s; from selfheal.openapi import build_openapi as b, render_html as r; import pathlib; p = pathlib.Path('$(STATE)/api-docs.html'); p.parent.mkdir(parents=True, exist_ok=True); p.write_text(r(b(s, None))); print('wrote', p, '- also served at /docs; reference: docs/api.md')"

# -- data and state --------------------------------------------------------------------
backup: $(RUNTIME_STAMP) ## copy the database with SQLite's online backup API (var/backups/)
	$(SELFHEAL) backup

prune: $(RUNTIME_STAMP) ## delete predictions, labels and cycles older than DAYS (DAYS=30)
	$(SELFHEAL) prune --days $(DAYS)

clear-predictions: $(RUNTIME_STAMP) ## delete every logged prediction and label (keeps models and audit)
	$(SELFHEAL) prune --days 0

clean: ## remove caches and build files (keeps .venv and var/)
	rm -rf .pytest_cache .mypy_cache .ruff_cache .hypothesis build dist *.egg-info htmlcov .coverage
	find . -name __pycache__ -type d -prune -not -path './.venv/*' -exec rm -rf {} +

clean-data: ## delete the database, reports and simulation state (keeps the registry)
	rm -f $(STATE)/selfheal.db $(STATE)/selfheal.db-wal $(STATE)/selfheal.db-shm
	rm -rf $(STATE)/reports $(STATE)/simulate

clean-models: ## delete the model registry (every version and the production pointer)
	rm -rf $(STATE)/registry

clean-all: clean clean-data clean-models ## everything: caches, state and .venv
	rm -rf $(STATE) $(VENV)

quick-start: setup init start ## set up, bootstrap, start in the background, send traffic
	$(SELFHEAL) simulate predict $(N) --labels
	$(SELFHEAL) simulate health
