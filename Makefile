# socialops — the commands a developer needs. `make help` lists them.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin

# Tests and benchmarks run against real PostgreSQL and Redis; override either from the environment.
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/socialops
TEST_REDIS_URL ?= redis://127.0.0.1:6379/15
# The benchmarks' own Redis database: the tests flush theirs, which would drop a benchmark's queued tasks.
BENCH_REDIS_URL ?= redis://127.0.0.1:6379/14

.DEFAULT_GOAL := help
.PHONY: help run test test-future lint format bench eval models install install-dev screenshots clean

help: ## list the commands
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "} {printf "  make %-12s %s\n", $$1, $$2}'

$(VENV)/.installed: pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e .
	@touch $@

$(VENV)/.installed-dev: $(VENV)/.installed
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $@

install: $(VENV)/.installed ## create the virtual environment and install socialops

install-dev: $(VENV)/.installed-dev ## install socialops with the test and lint tools

run: install ## run the whole product (web, worker, beat) on the embedded default; Ctrl-C stops it
	$(BIN)/python manage.py runstack

test: install-dev ## run the whole test suite against PostgreSQL, Redis and Chromium
	.ci/services
	DATABASE_URL=$(TEST_DATABASE_URL) REDIS_URL=$(TEST_REDIS_URL) $(BIN)/pytest $(PYTEST_ARGS)

# The test process's wall clock a year ahead (tests/clock.py says how, and what it does not reach).
FUTURE_DAYS ?= 365

test-future: install-dev ## the whole test suite with the clock a year ahead (catches tests that rot with the calendar)
	.ci/services
	SOCIALOPS_TEST_CLOCK_SHIFT_DAYS=$(FUTURE_DAYS) \
	DATABASE_URL=$(TEST_DATABASE_URL) REDIS_URL=$(TEST_REDIS_URL) $(BIN)/pytest $(PYTEST_ARGS)

lint: install-dev ## ruff lint and format check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install-dev ## apply ruff's formatting and safe fixes
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: install-dev ## run the benchmarks against PostgreSQL and Redis; writes bench/results.json
	.ci/services
	DATABASE_URL=$(TEST_DATABASE_URL) REDIS_URL=$(BENCH_REDIS_URL) $(BIN)/python -m bench

eval: install-dev ## score the routing classifier: labelled set, learning curve, ../shared/data; writes bench/eval_results.json
	$(BIN)/python -m bench.eval

models: install-dev ## train the sentiment model and the crisis detector on ../shared/data; writes routing/data/
	$(BIN)/python -m routing.training

screenshots: install-dev ## retake the README's screenshots (docs/screenshots/: light, dark, 390 px wide) with the browser tests
	.ci/services
	SAVE_SCREENSHOTS=1 DATABASE_URL=$(TEST_DATABASE_URL) REDIS_URL=$(TEST_REDIS_URL) $(BIN)/pytest tests/browser

clean: ## remove the virtual environment and the embedded data directory (var/)
	rm -rf $(VENV) var
