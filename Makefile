# spt-api: `make run` starts the service on embedded defaults, `make test` passes the whole suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# `make run` needs the service only; `make test` adds the test tools (S3 server, Helm engine, linters).
RUN_STAMP := $(VENV)/.installed-run
TEST_STAMP := $(VENV)/.installed-test
PYTEST_ARGS ?=

.PHONY: run test lint bench clean venv

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q -U pip setuptools wheel

$(RUN_STAMP): setup.cfg pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[cutout]'
	touch $(RUN_STAMP)

$(TEST_STAMP): setup.cfg pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[test]'
	touch $(TEST_STAMP) $(RUN_STAMP)

venv: $(TEST_STAMP)

run: $(RUN_STAMP)
	$(BIN)/spt-api maps demo --if-missing
	$(BIN)/spt-api serve

lint: $(TEST_STAMP)
	$(BIN)/ruff check spt_api workers tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports

# The auth tests' OIDC provider (oidc-provider, jose), from the committed lock file (node_modules is not committed).
KC_DIR := tests/auth/kc
$(KC_DIR)/node_modules/.package-lock.json: $(KC_DIR)/package-lock.json
	cd $(KC_DIR) && npm ci --no-audit --no-fund

test: $(TEST_STAMP) lint $(KC_DIR)/node_modules/.package-lock.json
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

bench: $(TEST_STAMP)
	$(BIN)/python bench/http_get.py
	$(BIN)/python bench/roundtrip.py

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
