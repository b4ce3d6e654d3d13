# Two commands for a newcomer: `make run` (train the default model if there is none, then serve it)
# and `make test` (the whole test suite). Both create the virtual environment first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
MODEL := model/artifacts/default
STAMP := $(VENV)/.installed

.PHONY: run test train serve quality bench lint clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

$(MODEL)/model.joblib: $(STAMP)
	$(BIN)/moderate train --data data/labeled --out $(MODEL)

train: $(STAMP)
	$(BIN)/moderate train --data data/labeled --out $(MODEL)

run: $(MODEL)/model.joblib
	$(BIN)/moderate serve --model $(MODEL) --host 127.0.0.1 --port 8000

test: $(STAMP)
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy

clean:
	rm -rf $(VENV) $(MODEL) .pytest_cache
