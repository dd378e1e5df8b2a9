# The README's two commands: `make up` runs the whole system locally, `make test` tests it.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: up test chromium lint typecheck check bench replica clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

up: $(STAMP)
	$(BIN)/python -m devstack

test: $(STAMP) chromium
	$(BIN)/python -m pytest

# Debian's Chromium for the page tests (Playwright drives it; no browser download).
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "the page tests need Chromium: sudo apt-get install chromium"; fi; }

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

check: lint typecheck test

bench: $(STAMP)
	$(BIN)/python -m bench.export_bench

replica: $(STAMP)
	$(BIN)/python -m warehouse.generate --out .local/replica --orgs 8 --chats-per-org 40000

clean:
	rm -rf .local
