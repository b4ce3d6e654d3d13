# Two commands for a newcomer: `make run` (train the default model if there is none, then serve it)
# and `make test` (the whole test suite). Both create the virtual environment first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
MODEL := model/artifacts/default
STAMP := $(VENV)/.installed

.PHONY: run test train serve quality bench lint clean audit soak browser

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

# Debian's chromium for the reviewer page's browser tests (tests/api/test_review_browser.py), installed with
# apt-get when /usr/bin/chromium is missing (as root, else with sudo). Playwright never downloads a browser.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
browser:
	@if [ -x /usr/bin/chromium ]; then echo "/usr/bin/chromium is installed"; else \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get update -q && \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium; fi

# pip-audit on the environment's pinned dependencies; says SKIPPED (exit 0) when its service is unreachable.
audit: $(STAMP)
	$(BIN)/python tests/reliability/pip_audit_step.py

# The long load/soak run (docs/reliability.md): concurrency 64 for 5 minutes against a real server.
soak: $(MODEL)/model.joblib
	$(BIN)/python bench/soak.py --duration 300

# Quality on the public labeled sets in ../shared/data, ours beside the baseline (writes docs/quality.md).
quality: $(MODEL)/model.joblib
	$(BIN)/python bench/quality.py

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy

clean:
	rm -rf $(VENV) $(MODEL) .pytest_cache
