# Two commands on a fresh machine (Python 3.11+ with venv):
#   make run    install into .venv and run the main job on the embedded SQLite store
#   make test   install with the dev tools and run the test suite
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test install install-dev bench

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

install: $(BIN)/python
	$(BIN)/pip install --quiet -e .

install-dev: $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev,postgres]'

run: install
	$(BIN)/scraper run

test: install-dev
	$(BIN)/python -m pytest -n 2 -q

bench: install-dev
	$(BIN)/python bench/quality.py
