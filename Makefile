# The README's two commands: `make run` and `make test`. Each sets up .venv when needed.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# Exact versions, with hashes, of everything `.[dev,bench,validate]` pulls in; `make lock` writes it.
LOCK   := requirements.lock
# uv resolves the lock; it lives in a throwaway venv so that locking never needs the project's
# venv (which installs from the lock). Pinned: a new uv may write the file differently.
UV_VERSION := 0.13.9
LOCK_TOOL  := build/lock-tool

.PHONY: run test lint bench lock clean boards

# Two steps, because pip's hash-checking mode is all or nothing and an editable project has no
# file to hash: first every third-party package, exactly as locked (hashes checked, --no-deps so
# nothing unlocked slips in); then the project itself, editable, with no dependencies and no build
# isolation (its build backend, setuptools, is in the lock). `pip check` proves the set complete.
$(STAMP): pyproject.toml $(LOCK)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --require-hashes --no-deps -r $(LOCK)
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	$(BIN)/python -m pip check
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
	$(BIN)/python -m benchmarks.outbox
	$(BIN)/python -m benchmarks.alerts
	$(BIN)/python -m benchmarks.scrape
	$(BIN)/python -m benchmarks.validate
	$(BIN)/python -m benchmarks.rules_diff
	$(BIN)/python -m benchmarks.serve

## Regenerate the Grafana boards and recording rules (commit the result; a test compares).
boards: $(STAMP)
	$(BIN)/python grafana/generate.py

## Re-resolve requirements.lock from pyproject.toml's ranges (then commit it): pins that still
## satisfy them are kept; `make lock UPGRADE=1` moves every pin to the newest allowed. Universal:
## one file for every platform and Python >= 3.11, with environment markers where they differ.
lock:
	test -x $(LOCK_TOOL)/bin/uv || ($(PYTHON) -m venv $(LOCK_TOOL) && \
	  $(LOCK_TOOL)/bin/python -m pip install --quiet uv==$(UV_VERSION))
	$(LOCK_TOOL)/bin/uv pip compile pyproject.toml --extra dev --extra bench --extra validate --universal \
	  --python-version 3.11 --generate-hashes $(if $(UPGRADE),--upgrade) --quiet \
	  --custom-compile-command 'make lock' --output-file $(LOCK)

## Everything the Makefile, the tests and `python -m build` leave behind.
clean:
	rm -rf $(VENV) data .pytest_cache .mypy_cache .ruff_cache .hypothesis build dist *.egg-info
