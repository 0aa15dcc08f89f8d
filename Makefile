# Quick start:  make demo  |  make test
# Each target creates its own virtual environment (.venv) and installs what it needs on a fresh machine.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
EXAMPLE := examples/tradecredit-csv
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml $(EXAMPLE)/pyproject.toml | cksum | cut -d' ' -f1)
CHROMIUM := /usr/bin/chromium

.PHONY: demo test lint typecheck example-test bench reliability venv chromium postgres clean help

help:
	@echo "make demo   - set up and run the demo (Optima demo DB -> IdoSell sandbox + e-Sklep storefront)"
	@echo "make test   - set up and run the whole test suite (ruff, mypy, unit, PostgreSQL, real HTTP, browser)"
	@echo "make bench  - run the sync benchmark, regenerate docs/benchmarks.md (ARGS=--quick | --million)"
	@echo "make reliability - long crash/race suite (prints its seed), figures into docs/reliability.md (ARGS=--seed N)"

venv: $(STAMP)

$(STAMP): pyproject.toml $(EXAMPLE)/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	# The example third-party plugin, installed like any plugin a merchant adds (its own distribution).
	$(BIN)/python -m pip install --quiet -e $(EXAMPLE)
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

# mypy reads the package through a link named tradecredit (the repository root is the package).
typecheck: $(STAMP)
	@mkdir -p $(VENV)/mypy-path && ln -sfn ../.. $(VENV)/mypy-path/tradecredit
	$(BIN)/mypy
	MYPYPATH=$(VENV)/mypy-path $(BIN)/mypy --config-file $(EXAMPLE)/pyproject.toml $(EXAMPLE)/src

# The example plugin's own suite, run the way its author runs it: from its folder, against the installed SDK.
example-test: $(STAMP)
	cd $(EXAMPLE) && ../../$(BIN)/pytest

test: $(STAMP) chromium postgres lint typecheck
	$(BIN)/pytest tests
	$(MAKE) --no-print-directory example-test

# The demo needs the dev kit (the sandbox extra), which .[test] pulls in.
demo: $(STAMP)
	$(BIN)/tradecredit demo $(ARGS)

BENCH_STAMP := $(VENV)/.bench-installed

$(BENCH_STAMP): bench/requirements.txt $(STAMP)
	$(BIN)/python -m pip install --quiet -r bench/requirements.txt
	touch $@

# The sync benchmark; regenerates docs/benchmarks.md and docs/img/benchmarks.png.
# ARGS=--quick for a few minutes' development run, ARGS=--million adds 1M customers.
bench: $(STAMP) $(BENCH_STAMP) postgres
	$(BIN)/python -m bench $(ARGS)

# The reliability suite's long mode (~10 min): hundreds of crash schedules, many lease races; prints its seed
# and writes its figures into docs/reliability.md. ARGS="--seed N" replays, ARGS="--no-write" only reports.
reliability: $(STAMP) postgres
	$(BIN)/python tests/reliability/long_mode.py $(ARGS)

clean:
	rm -rf $(VENV) build *.egg-info var
