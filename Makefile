# The two commands of the README: `make book` and `make test`. Each creates .venv when missing.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Offline data: the shared shards beside the clone, unless REPROBOOK_DATA is already set.
REPROBOOK_DATA ?= $(abspath $(wildcard ../shared/data))
export REPROBOOK_DATA
export PYTHONHASHSEED := 0

.PHONY: help venv test unit nbval book golden bench clean

help:
	@echo "make book    build the HTML book into _build/html (warnings are errors)"
	@echo "make test    unit tests + nbval on the executed smoke twins"
	@echo "make golden  re-execute every notebook at smoke scale into its committed twin"
	@echo "make bench   print throughput of the GPU batch pipeline and a ResNet-18 step"

venv: $(STAMP)
$(STAMP): requirements.txt pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found (Python 3.11 is required)"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -r requirements.txt
	$(BIN)/python -m pip install -q --no-deps -e .
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (reprobook)" >/dev/null
	touch $(STAMP)

test: venv
	$(BIN)/python -m pytest tests -q -p no:cacheprovider
	$(BIN)/python -m pytest --nbval book -q -p no:cacheprovider \
	  --nbval-sanitize-with tests/nbval_sanitize.cfg --nbval-current-env --nbval-cell-timeout 600

unit: venv
	$(BIN)/python -m pytest tests -q

book: venv
	rm -rf _build/html
	$(BIN)/jupyter-book build . --warningiserror --keep-going --builder html
	@echo "book: $(abspath _build/html/index.html)"

golden: venv
	$(BIN)/reprobook golden

bench: venv
	$(BIN)/python benchmarks/throughput.py

clean:
	rm -rf _build runs
