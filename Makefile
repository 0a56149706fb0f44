# Two commands a reader or CI needs, each doing its own set-up:
#   make html   build the HTML book into _build/html
#   make test   lint (ruff), then every test: notebooks (nbval), package, glossary, structure
# and one for authors:
#   make execute NB=part1_foundations/ch01_core_ml.ipynb   (or NB=all)
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: html test execute clean

$(STAMP): requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	touch $(STAMP)

html: $(STAMP)
	$(BIN)/jupyter-book build . --all --warningiserror --nitpick --keep-going

test: $(STAMP)
	$(BIN)/ruff check book tests tools
	$(BIN)/python -m pytest

execute: $(STAMP)
	$(BIN)/python tools/execute_notebooks.py $(or $(NB),all)

clean:
	rm -rf _build
