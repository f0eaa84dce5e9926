# Two commands: `make run` (dashboard on http://127.0.0.1:5000, simulator mode) and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
SUDO := $(shell [ "$$(id -u)" -eq 0 ] || echo sudo)
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: install run run-cluster test lint chromium services bench clean

$(STAMP): requirements.txt requirements-test.txt
	@$(PYTHON) -c 'import ensurepip, venv' 2>/dev/null || { $(SUDO) apt-get update && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y python3-venv; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q -r requirements.txt -r requirements-test.txt
	@touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(PY) wsgi.py

# The same dashboard on the celery engine: Redis, PostgreSQL, the web process and WORKERS shard workers.
WORKERS ?= 2
run-cluster: $(STAMP) services
	$(PY) -m app.engine.cluster.launch --workers $(WORKERS)

# Browser tests drive Debian's chromium (never a downloaded browser).
chromium:
	@command -v chromium >/dev/null 2>&1 || { $(SUDO) apt-get update && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y --no-install-recommends chromium; }

# Redis and PostgreSQL from Debian: the tests start their own throwaway servers on loopback (tests/servers.py).
services:
	@{ command -v redis-server && ls /usr/lib/postgresql/*/bin/initdb; } >/dev/null 2>&1 || { $(SUDO) apt-get update && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y --no-install-recommends redis-server postgresql; }

# The database-touching tests, run a second time on PostgreSQL (COPIER_TEST_DB=postgresql): pages and API,
# migrations, hostile input (PostgreSQL enforces lengths and integer ranges), restarts, replication runs.
PG_TESTS := tests/test_postgres.py tests/web tests/security/test_hostile_input.py tests/security/test_access.py \
	tests/reliability/test_kill_restart.py tests/reliability/test_concurrency.py \
	tests/replication/test_service_sim.py tests/replication/test_engine_sim.py \
	tests/replication/test_loss_protection_sim.py

test: $(STAMP) chromium services
	$(PY) -m ruff check .
	$(PY) -m pytest -n 2 --dist loadfile
	COPIER_TEST_DB=postgresql $(PY) -m pytest -n 2 --dist loadfile $(PG_TESTS)

lint: $(STAMP)
	$(PY) -m ruff check .

bench: $(STAMP)
	$(PY) bench/fanout.py --clients 100 --latency-ms 100

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
