# The dependency graph of the analysis. `make report` and `make test` are all a new user needs.
#   setup  -> .venv with the pinned packages of pyproject.toml (rebuilt when it changes)
#   data   -> data/processed/{panel.parquet,quarantine.csv,audit.json} from data/raw/
#             (from the synthetic demo city when data/raw/ holds no incident files)
#   report -> reports/<YYYYQn>/ for QUARTER (default: the latest complete quarter)
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
SETUP := $(VENV)/.setup-done
QUARTER ?=
RAW := $(shell find data/raw -type f ! -name README.md 2>/dev/null)
SRC := $(shell find src -name '*.py' -o -name '*.csv' 2>/dev/null)

.PHONY: setup data report test test-fast bench lab clean help

help:
	@echo "make report [QUARTER=2024Q2]   build the quarterly report (demo city when data/raw is empty)"
	@echo "make test                      run the test suite"
	@echo "make data                      build data/processed/panel.parquet only"
	@echo "make lab                       open JupyterLab on notebooks/ (installs the 'lab' extra)"
	@echo "make bench                     speed and memory benchmarks"

setup: $(SETUP)

$(SETUP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[test]'
	@touch $@

data: data/processed/panel.parquet

data/processed/panel.parquet: $(SETUP) $(RAW) $(SRC)
	$(PY) -m analysis data

report: data
	$(PY) -m analysis report $(if $(QUARTER),--quarter $(QUARTER))

test: $(SETUP)
	$(PY) -m pytest -n 2 --dist loadfile

test-fast: $(SETUP)
	$(PY) -m pytest -n 2 -m "not slow"

bench: $(SETUP)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[bench]'
	$(PY) benchmarks/bench_panel.py
	$(PY) benchmarks/bench_size.py
	$(PY) benchmarks/bench_estimators.py

lab: $(SETUP)
	$(PY) -m pip install --quiet -e '.[lab]'
	$(VENV)/bin/jupyter lab notebooks/

clean:
	rm -rf data/processed/*.parquet data/processed/*.csv data/processed/*.json data/demo reports/*/ reports/.staging-*
