# lcs — the two commands that matter: `make run` and `make test`.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test venv infra lint lock fuzz chaos bench migrate clean

# Installs come from the hash-locked requirements/*.txt only (`make lock` refreshes them
# from pyproject.toml and requirements/*.in); uv, itself locked, does the installing.
UV := $(BIN)/uv
UV_PIP = UV_HTTP_TIMEOUT=180 $(UV) pip
CHECKOV_VENV := $(VENV)/checkov
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed

$(UV): requirements/uv.txt
	@$(PY) -m venv $(VENV) 2>/dev/null || { apt-get update -qq && apt-get install -y -qq python3-venv >/dev/null && $(PY) -m venv $(VENV); }
	@$(BIN)/pip install -q --disable-pip-version-check --require-hashes --no-deps -r requirements/uv.txt
	@touch $(UV)

$(STAMP): $(UV) requirements/dev.txt requirements/uv.txt pyproject.toml
	@$(UV_PIP) sync -q --python $(BIN)/python --require-hashes requirements/dev.txt requirements/uv.txt
	@$(UV_PIP) install -q --python $(BIN)/python --no-deps --no-build-isolation -e .
	@touch $(STAMP)

# checkov pins its own dependencies tightly: it gets a virtualenv of its own.
$(CHECKOV_STAMP): $(UV) requirements/checkov.txt
	@$(UV) venv -q --allow-existing --python $(BIN)/python $(CHECKOV_VENV)
	@$(UV_PIP) sync -q --python $(CHECKOV_VENV)/bin/python --require-hashes requirements/checkov.txt
	@touch $(CHECKOV_STAMP)

venv: $(STAMP) $(CHECKOV_STAMP)

## refresh the locks after changing dependencies (UPGRADE=1: newest versions the ranges allow)
lock: $(UV)
	@UV=$(UV) UPGRADE=$${UPGRADE:-0} bash scripts/lock.sh

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
