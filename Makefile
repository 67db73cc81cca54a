# AccountPulse developer commands. `make` alone lists them.

VENV ?= .venv
BIN := $(VENV)/bin
COMPOSE_FILE := docker-compose.yml

.DEFAULT_GOAL := help
.PHONY: help install up test test-slow lint format ci compose-check

help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  %-14s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

install: ## Create .venv and install the project with dev tools, at the locked versions
	python3 -m venv $(VENV) && $(BIN)/pip install -c requirements.lock -e '.[dev]'

up: ## Run everything in one process with the demo stream (embedded broker, SQLite)
	$(BIN)/pulse up --demo

test: ## Run the tests but the slow ones (needs PostgreSQL at 127.0.0.1:5432, or PULSE_TEST_PG_DSN)
	$(BIN)/pytest -q -m 'not slow'

test-slow: ## Run the slow tests: fault runs and deep API fuzzing
	$(BIN)/pytest -q -m slow

lint: ## Check style and types: ruff check, ruff format --check, mypy
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: ## Sort imports and format the code with ruff
	$(BIN)/ruff check --select I --fix .
	$(BIN)/ruff format .

ci: ## Run what CI runs (fresh install, lint, tests)
	bash .ci/run

compose-check: ## Validate docker-compose.yml with docker compose (or docker-compose)
	@if docker compose version >/dev/null 2>&1; then \
		docker compose -f $(COMPOSE_FILE) config -q; \
	elif command -v docker-compose >/dev/null 2>&1; then \
		docker-compose -f $(COMPOSE_FILE) config -q; \
	else \
		echo "compose-check: needs docker compose or docker-compose" >&2; exit 1; \
	fi
	@echo "$(COMPOSE_FILE) is valid"
