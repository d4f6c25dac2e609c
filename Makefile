# Tally — `make run` serves it, `make test` proves it. Both set up what they need.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000

# Tests run against the real PostgreSQL and Redis on loopback. PORT is fixed: a `make run` records its
# port in var/.env, which would otherwise change the addresses tests expect.
TEST_ENV := DEBUG=false \
	SECRET_KEY=tally-test-secret-key-not-for-production-use-0123456789 \
	FIELD_ENCRYPTION_KEYS=SuGgUq0m0I3Hl5b3Vo8RpqAWu3WwbC3rGz1y8ZgjrKM= \
	DATABASE_URL=$(or $(TEST_DATABASE_URL),postgres://postgres@127.0.0.1:5432/tally) \
	REDIS_URL=$(or $(TEST_REDIS_URL),redis://127.0.0.1:6379/15) \
	CELERY_BROKER_URL=$(or $(TEST_BROKER_URL),redis://127.0.0.1:6379/14) \
	DELIVERY_ALLOW_PRIVATE_NETWORKS=true \
	ALLOWED_HOSTS=localhost,127.0.0.1,testserver \
	PORT=8000

.PHONY: venv run test lint format bench services browser clean

# `make run` installs what Tally runs on; tests, lint and benchmarks add their tools.
$(BIN)/.runtime: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $@

$(BIN)/.installed: $(BIN)/.runtime requirements-dev.txt
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

venv: $(BIN)/.installed

run: $(BIN)/.runtime
	PORT=$(PORT) scripts/run

services:
	scripts/ensure-services

browser:
	scripts/ensure-browser

test: venv services browser
	env $(TEST_ENV) $(BIN)/pytest $(PYTEST_ARGS)

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	env $(TEST_ENV) $(BIN)/mypy .
	$(BIN)/lint-imports --no-logo

format: venv
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# About 4 minutes: the intake with its ceilings (plain DRF view, pgbench; needs pgbench, from
# postgresql-client), the deliveries with their Celery baselines (shortened runs), rebuild_summaries
# over 50,000 users x 20 results, one user with 10,000 results, the progress chart.
bench: venv services
	@command -v pgbench >/dev/null || { echo "make bench needs pgbench (apt-get install postgresql-client)"; exit 1; }
	env $(TEST_ENV) $(BIN)/python bench/intake.py
	env $(TEST_ENV) $(BIN)/python bench/pushes.py --messages 1000 --duration 6 --burst-duration 3
	env $(TEST_ENV) $(BIN)/python bench/rebuild.py
	env $(TEST_ENV) $(BIN)/python bench/busy_user.py
	env $(TEST_ENV) $(BIN)/python bench/progress_chart.py

clean:
	rm -rf $(VENV) var staticfiles .pytest_cache .mypy_cache .ruff_cache .hypothesis
