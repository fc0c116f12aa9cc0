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
OUTCOME ?=
EDITION ?= public
FORMATS ?=
# the sectors whose pages are built (SECTORS="D62 D69"; default: every sector in the program),
# the one sector of `make sector`, the headline's method, and FORCE=1 to rebuild everything
SECTORS ?=
SECTOR ?=
METHOD ?=
FORCE ?=
# UNIT=cuadrante runs the same pipeline with the police cuadrantes as units: its own panel and
# reports (data/processed/cuadrante/, reports/cuadrante/), the sector ones left as they are
UNIT ?= sector
UNIT_FLAG := $(if $(filter-out sector,$(UNIT)),--unit '$(UNIT)')
UNIT_PATHS := $(if $(filter-out sector,$(UNIT)),--panel 'data/processed/$(UNIT)/panel.parquet' --reports 'reports/$(UNIT)')
# DASK_SCHEDULER=tcp://host:port sends the notebooks, calibration and power runs to a Dask cluster
export DASK_SCHEDULER
# JupyterLab's own flags, for example LAB_ARGS="--port 8899 --no-browser"
LAB_ARGS ?=
LAB_VENV := .venv-lab
LAB_SETUP := $(LAB_VENV)/.setup-done
# LANG is also the shell's locale variable (LANG=C.UTF-8): only a value given on make's command
# line chooses the editions' language; otherwise both editions are built
REPORT_LANG := $(if $(filter command line,$(origin LANG)),$(LANG),en es)

# Values given on the command line are checked here, before any shell sees them: only letters,
# digits, '.', '_' and '-' pass (QUARTER='x; touch owned' stops with an error, nothing runs).
_ALLOWED := A B C D E F G H I J K L M N O P Q R S T U V W X Y Z a b c d e f g h i j k l m n o p q r s t u v w x y z 0 1 2 3 4 5 6 7 8 9 . _ -
_strip = $(if $(2),$(call _strip,$(subst $(firstword $(2)),,$(1)),$(wordlist 2,999,$(2))),$(1))
define _NL


endef
_TAB := $(shell printf '\t')
_check = $(if $(or $(findstring $(_NL),$(value $(1))),$(findstring $(_TAB),$(value $(1)))),$(error $(1) holds a tab or a line break: only letters, digits, '.', '_' and '-' are allowed))$(if $(strip $(call _strip,$(subst $(eval) ,!,$(value $(1))),$(_ALLOWED))),$(error $(1)='$(value $(1))' is not valid: only letters, digits, '.', '_' and '-' are allowed))
$(call _check,QUARTER)
$(call _check,OUTCOME)
$(call _check,EDITION)
$(call _check,FORMATS)
$(call _check,SECTOR)
$(call _check,METHOD)
$(call _check,FORCE)
$(if $(filter-out sector cuadrante,$(UNIT)),$(error UNIT='$(value UNIT)' is not valid: sector or cuadrante))
# a list: each word is checked (the spaces between them are allowed)
$(if $(or $(findstring $(_NL),$(value SECTORS)),$(findstring $(_TAB),$(value SECTORS))),$(error SECTORS holds a tab or a line break))
$(if $(strip $(call _strip,$(value SECTORS),$(_ALLOWED))),$(error SECTORS='$(value SECTORS)' is not valid: sector ids of letters, digits, '.', '_' and '-', separated by spaces))
$(if $(filter command line,$(origin LANG)),$(call _check,LANG))

.PHONY: setup data report sector test test-fast lint bench validate mutate lab lab-setup clean help

help:
	@echo "make report [QUARTER=2024Q2] [OUTCOME=gun_injuries] [LANG=es|en] [EDITION=internal] [FORMATS=docx]"
	@echo "            [SECTORS='D62 D69'] [METHOD=ppml] [FORCE=1] [DASK_SCHEDULER=tcp://host:8786]"
	@echo "            [UNIT=cuadrante]"
	@echo "                               build the quarterly report (demo city when data/raw is empty):"
	@echo "                               Spanish and English editions and a two-page brief of each;"
	@echo "                               OUTCOME defaults to shootings when the sources give it;"
	@echo "                               EDITION=internal shows counts 1-4 (CONFIDENTIAL, own folder);"
	@echo "                               FORMATS=docx adds a Word edition; a notebook whose inputs,"
	@echo "                               parameters and code have not changed is read from .cache/"
	@echo "                               (FORCE=1 runs everything); DASK_SCHEDULER runs on a Dask cluster;"
	@echo "                               UNIT=cuadrante: police cuadrantes as units (a research run,"
	@echo "                               data/processed/cuadrante/ -> reports/cuadrante/)"
	@echo "make test                      run the test suite (lint, format and types included)"
	@echo "make lint                      ruff (lint, format check) and mypy only"
	@echo "make data [UNIT=cuadrante]     build data/processed/panel.parquet only (or data/processed/cuadrante/)"
	@echo "make lab [LAB_ARGS='--no-browser --port 8899']"
	@echo "                               JupyterLab at the repo root, the project's kernel registered, the"
	@echo "                               panel built first; the notebooks/*.py open as notebooks"
	@echo "make lab-setup                 create .venv-lab (JupyterLab and Jupytext) and register the kernel"
	@echo "make sector SECTOR=D62 [QUARTER=2026Q3] [METHOD=imputation]"
	@echo "                               one sector's notebook on its own -> reports/scratch/<YYYYQn>/"
	@echo "make bench                     speed and memory benchmarks; make report's cold, warm, cached, Dask"
	@echo "                               15-sector and cuadrante times -> reports/bench/ (about 15 min)"
	@echo "make validate                  methods on 800 realistic simulated cities (needs ../shared; ~40 min)"
	@echo "make mutate [MODULES=src/...]  mutation testing of the rules that decide numbers (prints survivors)"
	@echo "make test-fast                 the tests that build no report"
	@echo "make setup                     create .venv with the pinned packages (every target does it first)"
	@echo "make clean                     remove the built panel, the demo city and every built report (.venv stays)"
	@echo "make help                      this list"

setup: $(SETUP)

$(SETUP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[test]'
	@touch $@

# Always asks the panel step, which compares the sha256 of every input file (deletions
# included), the code and the options with those the panel was built from, and rebuilds only
# when one differs: file times cannot be trusted (a deleted file leaves none to compare).
data: $(SETUP)
	$(PY) -m analysis data $(UNIT_FLAG)

report: data
	$(PY) -m analysis report $(if $(QUARTER),--quarter '$(QUARTER)') $(if $(OUTCOME),--outcome '$(OUTCOME)') \
		--lang '$(REPORT_LANG)' --edition '$(EDITION)' $(if $(FORMATS),--formats '$(FORMATS)') \
		$(if $(SECTORS),--sectors '$(SECTORS)') $(if $(METHOD),--method '$(METHOD)') $(if $(filter-out 0,$(FORCE)),--force) \
		$(UNIT_PATHS)

sector: data
	@test -n '$(SECTOR)' || { echo "make sector needs SECTOR=<id>, for example make sector SECTOR=D62"; exit 2; }
	$(PY) -m analysis sector '$(SECTOR)' $(if $(QUARTER),--quarter '$(QUARTER)') $(if $(OUTCOME),--outcome '$(OUTCOME)') \
		$(if $(METHOD),--method '$(METHOD)') $(if $(filter-out 0,$(FORCE)),--force) \
		$(if $(filter command line,$(origin LANG)),--lang '$(LANG)') $(UNIT_PATHS)

test: $(SETUP) $(LAB_SETUP)
	$(PY) -m pytest -n 2 --dist loadfile

# the same checks tests/test_lint.py runs inside `make test`, on their own
lint: $(SETUP)
	$(VENV)/bin/ruff check src tests tools benchmarks notebooks
	$(VENV)/bin/ruff format --check src/analysis
	$(PY) -m mypy

test-fast: $(SETUP)
	$(PY) -m pytest -n 2 -m "not slow"

bench: $(SETUP)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[bench]'
	$(PY) benchmarks/bench_panel.py
	$(PY) benchmarks/bench_size.py
	$(PY) benchmarks/bench_estimators.py
	$(PY) benchmarks/bench_build.py

# The realistic-city validation study (not part of `make test`; needs ../shared): about 40 min
# with 2 workers for 200 cities in each of 4 scenarios. Writes reports/validation/.
validate: $(SETUP)
	$(PY) -m analysis validate

# JupyterLab in an environment of its own (.venv-lab: installed beside the kernel it makes every
# `import nbformat` seconds slower), with the project's .venv registered as its kernel and the
# settings of jupyter/ (Jupytext files open as notebooks; no autosave). Opens at the repo root.
lab-setup: $(LAB_SETUP)

$(LAB_SETUP): pyproject.toml jupyter/lab-requirements.txt jupyter/overrides.json tools/lab.py | $(SETUP)
	@test -x $(LAB_VENV)/bin/python || $(PYTHON) -m venv $(LAB_VENV)
	$(LAB_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r jupyter/lab-requirements.txt
	$(PY) tools/lab.py install $(LAB_VENV)
	@touch $@

lab: data $(LAB_SETUP)
	$(PY) tools/lab.py run $(LAB_VENV) $(LAB_ARGS)

clean:
	rm -rf data/processed/*.parquet data/processed/*.csv data/processed/*.json data/demo reports/*/ reports/.staging-* .cache

# Mutation testing (not part of `make test`): one-token bugs in src/analysis/data, impact and the
# report's suppression, each run against the tests that execute its line (a coverage pass picks
# them); prints the survivors and writes build/mutation.json. MUTATE_ARGS='--jobs 1' and so on.
mutate: $(SETUP)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[mutate]'
	$(PY) tools/mutate.py $(MODULES) $(MUTATE_ARGS)
