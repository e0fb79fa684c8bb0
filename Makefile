# The README's two commands: `make run` and `make test`. Each sets up .venv when needed.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test lint bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	mkdir -p build/typecheck/rapport  # mypy's view of the rapport.* names (see pyproject.toml)
	for package in engine signals api; do ln -sfn ../../../$$package build/typecheck/rapport/$$package; done
	touch $(STAMP)

## Seed the demo into the embedded SQLite store (when empty), score it and print the table,
## then serve the API, /metrics and the collectors on 127.0.0.1:8000 until Ctrl-C.
run: $(STAMP)
	$(BIN)/rapport demo
	$(BIN)/rapport serve

## Every test, lint and type check.
test: $(STAMP) lint
	$(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

## Benchmarks (not part of `make test`): prints ratios and start-up times, writes
## benchmarks/results.json.
bench: $(STAMP)
	$(BIN)/python -m benchmarks
	$(BIN)/python -m benchmarks.bench_api
	$(BIN)/python -m benchmarks.startup

clean:
	rm -rf $(VENV) data .pytest_cache .mypy_cache .ruff_cache .hypothesis
