# spt-api: `make run` starts the service on embedded defaults, `make test` passes the whole suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# `make run` needs the service only; `make test` adds the test tools (S3 server, Helm engine, linters).
RUN_STAMP := $(VENV)/.installed-run
TEST_STAMP := $(VENV)/.installed-test
PYTEST_ARGS ?=
# The web app (webapp/, React + Vite): built into webapp/dist, which the API serves at /app/cutout.
NPM ?= npm
WEBAPP_MODULES := webapp/node_modules/.package-lock.json
WEBAPP_BUILD := webapp/dist/index.html
WEBAPP_SOURCES := $(wildcard webapp/src/*.ts webapp/src/*.tsx webapp/src/*.css webapp/src/*/*.ts webapp/src/*/*.tsx) \
	webapp/index.html webapp/vite.config.ts webapp/package-lock.json
# The browser of the browser tests (tests/webapp): Debian's Chromium, driven by Playwright.
CHROMIUM := /usr/bin/chromium

.PHONY: run test lint bench clean venv webapp webapp-if-node webapp-test chromium

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q -U pip setuptools wheel

# Every service's extra: on `make run` each service the API lists can also run its jobs.
SERVICE_EXTRAS := cutout,evaluation,inference,search

$(RUN_STAMP): setup.cfg pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[$(SERVICE_EXTRAS)]'
	touch $(RUN_STAMP)

$(TEST_STAMP): setup.cfg pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[test]'
	touch $(TEST_STAMP) $(RUN_STAMP)

venv: $(TEST_STAMP)

# npm ci writes node_modules/.package-lock.json: the stamp of an install from the lock file.
# package.json pins Vite to 8.3: 8.4 adds a Windows-only optional dependency (napi-windows-process-start-time)
# that this registry lacks, so its lock leaves it out and `npm ci` refuses the lock ("Missing: ...");
# `npm install`, which takes the same lock unchanged, stays as the fallback.
$(WEBAPP_MODULES): webapp/package-lock.json
	cd webapp && { $(NPM) ci --no-audit --no-fund || $(NPM) install --no-audit --no-fund; }

$(WEBAPP_BUILD): $(WEBAPP_MODULES) $(WEBAPP_SOURCES)
	cd webapp && $(NPM) run build

webapp: $(WEBAPP_BUILD)

# `make run` builds the web app when Node is here, and serves the API without it otherwise.
webapp-if-node:
	@if command -v $(NPM) >/dev/null 2>&1; then $(MAKE) --no-print-directory webapp; \
	elif [ ! -f $(WEBAPP_BUILD) ]; then echo "npm not found: /app/cutout is not served (install Node.js 20+ for the web app)"; fi

# The components' tests (vitest), after an install from the lock file when node_modules is missing.
webapp-test: $(WEBAPP_MODULES)
	cd webapp && $(NPM) test

$(CHROMIUM):
	@if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	$$SUDO apt-get install -y chromium || { $$SUDO apt-get update && $$SUDO apt-get install -y chromium; }

chromium: $(CHROMIUM)

run: $(RUN_STAMP) webapp-if-node
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

test: $(TEST_STAMP) lint $(KC_DIR)/node_modules/.package-lock.json webapp-test $(CHROMIUM) webapp
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

bench: $(TEST_STAMP)
	$(BIN)/python bench/http_get.py
	$(BIN)/python bench/roundtrip.py

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache webapp/node_modules webapp/dist
