# The two commands a newcomer needs: `make run` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test lint format bench conformance clean

$(BIN)/python:
	$(PY) -m venv $(VENV)

$(STAMP): $(BIN)/python pyproject.toml $(wildcard chatserver/crisis/_scan*.c chatserver/crisis/_scan.h)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test,dev]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/chatserver serve --host $(HOST) --port $(PORT)

test: $(STAMP)
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff format --check chatserver tests bench
	$(BIN)/ruff check chatserver tests bench
	$(BIN)/mypy chatserver

format: $(STAMP)
	$(BIN)/ruff format chatserver tests bench
	$(BIN)/ruff check --fix chatserver tests bench

bench: $(STAMP)
	$(BIN)/python -m bench

conformance: $(STAMP)
	../shared/conformance/run

clean:
	rm -rf $(VENV) .pytest_cache chat.db chat.db-wal chat.db-shm
