# Quick start:  make demo  |  make test
# Each target creates its own virtual environment (.venv) and installs what it needs on a fresh machine.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)
CHROMIUM := /usr/bin/chromium

.PHONY: demo test lint bench venv chromium postgres clean help

help:
	@echo "make demo   - set up and run the demo (Optima demo DB -> IdoSell sandbox + e-Sklep storefront)"
	@echo "make test   - set up and run the whole test suite (lint, unit, PostgreSQL, real HTTP, browser)"
	@echo "make bench  - run the benchmarks (ratios against a baseline measured in the same run)"

venv: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	rm -f $(VENV)/.installed-*
	touch $@

# Browser tests drive Debian's Chromium through Playwright (no browser download).
chromium:
	@if [ ! -x $(CHROMIUM) ]; then \
		echo "Installing Debian's chromium package for the browser tests"; \
		SUDO=; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium; \
	fi

# PostgreSQL runs on every machine of this project; start it if it was stopped.
postgres:
	@if command -v pg_isready >/dev/null && ! pg_isready -q -h 127.0.0.1 -p 5432; then \
		echo "Starting PostgreSQL"; \
		pg_ctlcluster --skip-systemctl-redirect $$(ls /etc/postgresql | head -1) main start || true; \
	fi

lint: $(STAMP)
	$(BIN)/ruff check .

test: $(STAMP) chromium postgres lint
	$(BIN)/pytest tests

demo: $(STAMP)
	$(BIN)/tradecredit demo $(ARGS)

bench: $(STAMP)
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) build *.egg-info var
