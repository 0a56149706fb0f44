# Two commands a reader or CI needs, each doing its own set-up:
#   make html   build the HTML book into _build/html
#   make test   lint (ruff), then every test: notebooks (nbval), package, glossary, structure
#   make student   the student edition: every notebook without its solutions, in _build/student
# and one for authors:
#   make execute NB=part1_foundations/ch01_core_ml.ipynb   (or NB=all)
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: html test execute student clean

$(STAMP): requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	touch $(STAMP)

# Browser assets (MathJax, tippy.js, Popper) come from npm, pinned by package-lock.json.
node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

html: $(STAMP) node_modules/.installed
	rm -rf _build/html
	$(BIN)/jupyter-book build . --all --warningiserror --nitpick --keep-going

test: $(STAMP)
	$(BIN)/ruff check book tests tools
	$(BIN)/python -m pytest

execute: $(STAMP)
	$(BIN)/python tools/execute_notebooks.py $(or $(NB),all)

student: $(STAMP)
	$(BIN)/python tools/student_edition.py

clean:
	rm -rf _build
