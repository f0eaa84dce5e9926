# Two commands: `make run` (dashboard on http://127.0.0.1:5000, simulator mode) and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
SUDO := $(shell [ "$$(id -u)" -eq 0 ] || echo sudo)
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: install run test lint chromium bench clean

$(STAMP): requirements.txt requirements-test.txt
	@$(PYTHON) -c 'import ensurepip, venv' 2>/dev/null || { $(SUDO) apt-get update && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y python3-venv; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q -r requirements.txt -r requirements-test.txt
	@touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(PY) wsgi.py

# Browser tests drive Debian's chromium (never a downloaded browser).
chromium:
	@command -v chromium >/dev/null 2>&1 || { $(SUDO) apt-get update && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y --no-install-recommends chromium; }

test: $(STAMP) chromium
	$(PY) -m ruff check .
	$(PY) -m pytest -n 2 --dist loadfile

lint: $(STAMP)
	$(PY) -m ruff check .

bench: $(STAMP)
	$(PY) bench/fanout.py --clients 100 --latency-ms 100

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
