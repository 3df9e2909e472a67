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

# The notebook regression: nbval with reprobook's tolerances for trained numbers.
NBVAL = $(BIN)/python -m pytest -q -p no:cacheprovider -p reprobook.run.nbval_plugin --nbval \
  --nbval-sanitize-with tests/nbval_sanitize.cfg --nbval-current-env --nbval-cell-timeout 600
# A numeric configuration other than the default (instruction set, MKL mode, one thread):
# `make test` replays one notebook per chapter under it, so a twin that only replays on its
# author's machine cannot land.
OTHER_NUMERICS := ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2 MKL_CBWR=AVX2 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
NB ?= book

.PHONY: help venv test unit nbval book golden tolerances bench clean

help:
	@echo "make book    build the HTML book into _build/html (warnings are errors)"
	@echo "make test    unit tests + nbval on the executed smoke twins (one per chapter under other numerics)"
	@echo "make nbval NB=\"book/03-hypersphere\"   notebook regression on a selection (default: all of book/)"
	@echo "make tolerances CH=03-hypersphere       measure the trained numbers' spread, write its tolerances.json"
	@echo "make golden  re-execute every notebook at smoke scale into its committed twin"
	@echo "make bench   print throughput of the GPU batch pipeline and a ResNet-18 step"

venv: $(STAMP)
$(STAMP): requirements.txt pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found (Python 3.11 is required)"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -r requirements.txt
	# frost textures of CIFAR-10-C only: its OpenCV / scikit-image dependencies are not needed
	$(BIN)/python -m pip install -q --no-deps imagecorruptions==1.1.2
	$(BIN)/python -m pip install -q --no-deps -e .
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (reprobook)" >/dev/null
	touch $(STAMP)

test: venv
	$(BIN)/python -m pytest tests -q -p no:cacheprovider
	rest="$$($(BIN)/reprobook twins --rest)" && test -n "$$rest" && $(NBVAL) $$rest
	@echo "notebook regression under other numerics: $(OTHER_NUMERICS)"
	sample="$$($(BIN)/reprobook twins --portable)" && test -n "$$sample" && env $(OTHER_NUMERICS) $(NBVAL) $$sample

nbval: venv
	@test -n "$(strip $(NB))" || { echo "usage: make nbval NB=\"<twins or folders>\" (default: book)"; exit 2; }
	$(NBVAL) $(NB)

tolerances: venv
	@test -n "$(CH)" || { echo "usage: make tolerances CH=<chapter>[/<notebook>]"; exit 2; }
	$(BIN)/reprobook tolerances $(CH)

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
