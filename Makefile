# The README's two commands: `make up` runs the whole system locally, `make test` tests it.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: up test test-fast test-tools lint typecheck check bench replica clean lock

# Every version comes from requirements.lock; `make lock` writes it again from pyproject.toml.
$(STAMP): pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $(STAMP)

lock: $(STAMP)
	$(BIN)/uv pip compile pyproject.toml --extra local --extra dev --universal \
	  --python-version 3.11 --quiet -o requirements.lock

up: $(STAMP)
	$(BIN)/python -m devstack

# Two workers, one test file each at a time (a file's module fixtures stay on one worker).
test: $(STAMP) test-tools
	$(BIN)/python -m pytest -n 2 --dist loadfile

# Debian's Chromium for the page tests (Playwright drives it; no browser download),
# 7-Zip, the standard tool the tests open protected (AES) ZIP files with, LibreOffice Calc
# and poppler (the tests render a workbook to PDF and read its text), and axe-core
# (package.json), the accessibility checker the page tests run inside the page.
test-tools:
	@for tool in chromium 7zz soffice pdftotext; do command -v $$tool >/dev/null 2>&1 || exit 1; done || { \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get update -qq && export DEBIAN_FRONTEND=noninteractive && \
	    apt-get install -y -qq chromium 7zip >/dev/null && \
	    apt-get install -y -qq --no-install-recommends libreoffice-calc-nogui poppler-utils >/dev/null; \
	  else echo "the tests need: sudo apt-get install chromium 7zip libreoffice-calc-nogui poppler-utils"; fi; }
	@[ -f node_modules/axe-core/axe.min.js ] || npm ci --silent --no-audit --no-fund

# The tests that need no service (filters, columns, CSV encoding, cron, decisions, layers).
test-fast: $(STAMP)
	$(BIN)/python -m pytest -m fast

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
