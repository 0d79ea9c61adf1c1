# lcs — the two commands that matter: `make run` and `make test`.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test venv infra lint fuzz chaos bench migrate clean

$(STAMP): pyproject.toml
	@$(PY) -m venv $(VENV) 2>/dev/null || { apt-get update -qq && apt-get install -y -qq python3-venv >/dev/null && $(PY) -m venv $(VENV); }
	@$(BIN)/pip install -q --upgrade pip
	@$(BIN)/pip install -q -e '.[dev]'
	@touch $(STAMP)

venv: $(STAMP)

infra:
	@bash scripts/ensure-infra.sh

## run the whole system: four services + SMTP sink + SMS gateway stand-in (Ctrl-C stops it)
## (with a running Docker engine, the same system comes up from deploy/compose.yaml; LCS_RUN_MODE=local forces processes)
run: venv
	@if [ "$${LCS_RUN_MODE:-auto}" != local ] && command -v docker >/dev/null && docker info >/dev/null 2>&1; then \
	  docker compose -f deploy/compose.yaml up --build; \
	else \
	  bash scripts/ensure-infra.sh && $(BIN)/python -m shared.devtools.stack run; \
	fi

## the whole suite against real PostgreSQL and RabbitMQ
test: venv infra
	@$(BIN)/python -m pytest -q -p no:cacheprovider $(PYTEST_ARGS); rc=$$?; \
	  if [ $$rc -eq 5 ]; then echo "no tests ran: failing" >&2; exit 1; fi; exit $$rc

lint: venv
	$(BIN)/ruff check .
	$(BIN)/mypy shared services

migrate: venv infra
	LCS_ENV=$${LCS_ENV:-dev} $(BIN)/python -m shared.migrate all

fuzz: venv infra
	LCS_FUZZ_RANDOM=1 LCS_FUZZ_EXAMPLES=$${LCS_FUZZ_EXAMPLES:-200} $(BIN)/python -m pytest -q tests/security -k fuzz

chaos: venv infra
	LCS_CHAOS_SCALE=large $(BIN)/python -m pytest -q tests/chaos

bench: venv infra
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .run .pytest_cache .mypy_cache .ruff_cache
