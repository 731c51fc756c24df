# Two commands on a fresh machine: `make run` and `make test`.
# Both create .venv and install into it; a second run reinstalls nothing unless pyproject.toml changed.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
# torch must come first and pinned: it installs the CPU build from the local wheel.
TORCH := torch==2.13.0

export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: run test gate install install-dev install-eval index lint eval bench loadtest clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet $(TORCH)
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed
	$(BIN)/python -m pip install --quiet -e '.[dev,ray]'
	touch $@

# The eval extra (charts, calibration fit, HTTP client): what eval, bench and loadtest need.
$(VENV)/.installed-eval: $(VENV)/.installed
	$(BIN)/python -m pip install --quiet -e '.[eval]'
	touch $@

install: $(VENV)/.installed

install-dev: $(VENV)/.installed-dev

install-eval: $(VENV)/.installed-eval

## Build the index of corpus/ (no-op when it is up to date).
index: install
	$(BIN)/verbatim ingest

## Install, build the index if missing or stale, and serve on http://$(HOST):$(PORT).
run: index
	$(BIN)/verbatim serve --host $(HOST) --port $(PORT)

## Install with the dev and ray extras and run the whole test suite (tests/cluster starts a local Ray cluster).
test: install-dev
	$(BIN)/python -m pytest

lint: install-dev
	$(BIN)/ruff check .

## Score the QA pipeline on the eval set's test split: tables, eval/reports/<time>/, exit 1 below a threshold.
eval: install-eval index
	$(BIN)/verbatim eval --split test

## Only the regression gate (part of `make test`): every threshold of eval/thresholds.toml on the test split.
gate: install-dev
	$(BIN)/python -m pytest -m gate

bench: install-eval index
	$(BIN)/verbatim bench

## Bounded load test on loopback: a real server process and a separate load generator.
LOADTEST_REQUESTS ?= 20000
LOADTEST_CONCURRENCY ?= 32
loadtest: install-dev index
	$(BIN)/python -m eval.bench.loadtest --requests $(LOADTEST_REQUESTS) --concurrency $(LOADTEST_CONCURRENCY) \
		--index index --output eval/reports/loadtest.json

clean:
	rm -rf $(VENV) index/builds index/cache index/CURRENT .pytest_cache
