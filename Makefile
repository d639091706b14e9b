# leadq developer commands. `make demo` and `make test` set everything up themselves.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
# The AsyncAPI validator (node, @asyncapi/parser pinned by package-lock.json).
ASYNCAPI_DIR := schemas/asyncapi
NODE_STAMP := $(ASYNCAPI_DIR)/node_modules/.installed-stamp

.PHONY: demo test lint unit integration reliability bench bench-backtest bench-api broker broker-stop schemas asyncapi clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "leadq needs Python 3.11 or newer (set PYTHON=python3.11)")'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

# Without npm this only warns: the other tests still run, and
# tests/unit/schemas/test_asyncapi.py fails saying what is missing.
$(NODE_STAMP): $(ASYNCAPI_DIR)/package.json $(ASYNCAPI_DIR)/package-lock.json
	@if command -v npm >/dev/null; then \
		cd $(ASYNCAPI_DIR) && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error \
		&& touch node_modules/.installed-stamp; \
	else \
		echo "warning: npm not found: the AsyncAPI validation test will fail (install Node.js 18.18+ with npm)" >&2; \
	fi

demo: $(STAMP)  ## The main job end to end: broker, workers, scenarios, traffic, summary
	$(BIN)/leadq demo

test: lint $(NODE_STAMP)  ## ruff, mypy and every test (unit, agents, integration on a real Kafka)
	$(BIN)/pytest

unit: $(STAMP) $(NODE_STAMP)  ## Only the tests that need no broker
	$(BIN)/pytest tests/unit tests/agents

integration: $(STAMP)
	$(BIN)/pytest tests/integration

reliability: $(STAMP)  ## Fault scenarios at full size (20 x kill -9 over 50,000 events, ...)
	LEADQ_RELIABILITY=full $(BIN)/pytest tests/reliability --timeout 1200

bench: $(STAMP)  ## leadq vs a plain aiokafka loop; table -> bench/RESULTS.md, reports/bench.json
	$(BIN)/python -m bench

bench-backtest: $(STAMP)  ## Time `leadq backtest` on 1,000,000 simulated events (prints the figure)
	$(BIN)/python -m bench.backtest

bench-api: $(STAMP)  ## `leadq api`: stage change emitted -> on /events, a new replica's catch-up
	$(BIN)/python -m bench.api

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

schemas: $(STAMP)  ## Regenerate the JSON Schema files in schemas/json
	$(BIN)/python -m schemas.export

asyncapi: $(NODE_STAMP)  ## Validate schemas/asyncapi.yaml with the AsyncAPI parser
	node $(ASYNCAPI_DIR)/validate.mjs

broker: $(STAMP)  ## Start the local Apache Kafka on 127.0.0.1:9092
	$(BIN)/leadq broker start

broker-stop: $(STAMP)
	$(BIN)/leadq broker stop

clean:
	-test -x $(BIN)/leadq && $(BIN)/leadq broker stop
	rm -rf $(VENV) $(ASYNCAPI_DIR)/node_modules .mypy_cache .ruff_cache .pytest_cache .hypothesis build *.egg-info reports
