"""SIGKILL in the middle of a replication to many slow clients, restart, replicate: targets, no duplicates.

The app runs as a real process (`python wsgi.py`, waitress) against an in-process simulator whose order
endpoints are slow, so the kill lands while orders are being sent.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from decimal import Decimal
from pathlib import Path

import pytest
import requests
from cryptography.fernet import Fernet

from app import create_app
from tests.conftest import add_account, app_config

from .helpers import BTC, free_port, held, max_held, query_rows, wait_until

ROOT = Path(__file__).resolve().parents[2]
ETH = "ETHUSDT"
CLIENTS = 40
TOKEN = "kill-test-api-token-0123456789"


def multiplier(i: int) -> Decimal:
    return Decimal(i % 4 + 1) / 10


class AppProcess:
    """`python wsgi.py` with FLASK_* settings; started, waited for, killed."""

    def __init__(self, env: dict[str, str], port: int, log: Path) -> None:
        self.env, self.port, self.log = env, port, log
        self.url = f"http://127.0.0.1:{port}"
        self.proc: subprocess.Popen | None = None

    def start(self) -> AppProcess:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen([sys.executable, "wsgi.py"], cwd=ROOT, env=self.env,
                                         stdout=out, stderr=subprocess.STDOUT)

        def healthy() -> bool:
            assert self.proc.poll() is None, self.log.read_text()[-3000:]
            try:
                return requests.get(f"{self.url}/healthz", timeout=1).status_code == 200
            except requests.RequestException:
                return False

        wait_until(healthy, timeout=30, step=0.1)
        return self

    def api(self, method: str, path: str, **kw):
        return requests.request(method, self.url + path, headers={"Authorization": f"Bearer {TOKEN}"},
                                timeout=kw.pop("timeout", 60), **kw)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)


@pytest.fixture
def setup(tmp_path, sim):
    """40 clients stored in the copier database before the process starts; master holds BTC long and ETH short."""
    vault_key, secret_key = Fernet.generate_key().decode(), "kill-test-secret-key"
    config = app_config(tmp_path, sim.url, VAULT_KEY=vault_key, SECRET_KEY=secret_key)
    app = create_app(config)
    sim.exchange.set_price(BTC, "80000")
    sim.exchange.set_price(ETH, "2000")
    add_account(app, sim, "Master", role="master", balance="100000")
    targets = {}
    for i in range(CLIENTS):
        name = f"k{i:02d}"
        add_account(app, sim, name, balance="10000", pos_mode="one_way_mode" if i % 5 == 4 else "hedge_mode",
                    sizing_mode="multiplier", sizing_value=str(multiplier(i)))
        targets[name] = {(BTC, "long"): Decimal("0.1") * multiplier(i), (ETH, "short"): Decimal("1") * multiplier(i)}
    app.extensions["replication"].executor.shutdown()
    from app.store.extensions import db

    with app.app_context():
        db.engine.dispose()
    sim.exchange.open_position("Master", BTC, "long", "0.1", leverage=10)
    sim.exchange.open_position("Master", ETH, "short", "1", leverage=5)
    sim.faults.configure({"/api/v2/mix/order/": {"latency_ms": 60, "jitter_ms": 60}})
    port = free_port()
    env = {**os.environ, "FLASK_EXCHANGE": "bitget", "FLASK_BITGET_BASE_URL": sim.url,
           "COPIER_INSTANCE_PATH": str(tmp_path / "instance"), "FLASK_PORT": str(port), "FLASK_HOST": "127.0.0.1",
           "FLASK_SCHEDULER_ENABLED": "false", "FLASK_API_TOKEN": TOKEN, "FLASK_SECRET_KEY": secret_key,
           "FLASK_VAULT_KEY": vault_key, "FLASK_EXECUTOR_MAX_WORKERS": "4", "FLASK_BITGET_IP_LIMIT_PER_MINUTE": "0",
           "FLASK_SIM_SEED_ACCOUNTS": "false", "FLASK_SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"]}
    return app, targets, AppProcess(env, port, tmp_path / "app.log")


def run_statuses(app) -> list[str]:
    return [row[0] for row in query_rows(app, "SELECT status FROM run ORDER BY id")]


def test_sigkill_mid_replication_then_restart_converges_without_duplicates(sim, setup):
    app, targets, process = setup
    assert run_statuses(app) == []  # the database exists (SQLite file or PostgreSQL) before the process starts
    process.start()
    try:
        answers: list[object] = []

        def fire() -> None:
            try:
                answers.append(process.api("POST", "/api/replicate"))
            except requests.RequestException as exc:
                answers.append(exc)

        caller = threading.Thread(target=fire, daemon=True)
        caller.start()
        wait_until(lambda: len(sim.exchange.order_log_rows()) >= 12, timeout=20, step=0.005)
        process.kill()
        caller.join(timeout=10)
        assert answers and isinstance(answers[0], requests.RequestException), answers  # it really died mid-run

        reached = sum(1 for name, goal in targets.items() if held(sim, name) == goal)
        assert reached < CLIENTS, "the kill came too late to interrupt anything"
        assert run_statuses(app) == ["running"]  # left behind by the dead process

        process.start()  # same database, same instance folder
        assert run_statuses(app) == ["interrupted"]  # recovered at start by the serving process
        runs = process.api("GET", "/api/runs").json()["runs"]
        assert [r["status"] for r in runs] == ["interrupted"]

        answer = process.api("POST", "/api/replicate")
        assert answer.status_code == 200, answer.text
        assert answer.json()["status"] == "ok", [r for r in answer.json()["results"] if r["status"] != "ok"]
    finally:
        process.kill()

    peaks = max_held(sim)
    for name, goal in targets.items():
        assert held(sim, name) == goal, name  # exactly the two copies, each exactly on target
        for (symbol, side), size in goal.items():
            assert peaks[(name, symbol, side)] == size, f"{name} {symbol} {side} once held more than {size}"
        assert {(s, h) for (a, s, h) in peaks if a == name} == set(goal), name  # never any other position
    assert run_statuses(app) == ["interrupted", "ok"]


PLACE_ORDER = "/api/v2/mix/order/place-order"


def test_sigkill_while_an_order_is_queued_at_the_exchange_never_doubles_it(tmp_path, sim):
    """The open is in flight (the exchange sits on it) when the copier dies; the restarted copier sends the
    same intent with the same clientOid, so whichever arrives second is refused as a duplicate."""
    vault_key, secret_key = Fernet.generate_key().decode(), "kill-test-secret-key"
    app = create_app(app_config(tmp_path, sim.url, VAULT_KEY=vault_key, SECRET_KEY=secret_key))
    sim.exchange.set_price(BTC, "80000")
    add_account(app, sim, "Master", role="master", balance="100000")
    add_account(app, sim, "A", balance="10000", sizing_mode="multiplier", sizing_value="0.5")
    app.extensions["replication"].executor.shutdown()
    from app.store.extensions import db

    with app.app_context():
        db.engine.dispose()
    sim.exchange.open_position("Master", BTC, "long", "0.1", leverage=10)
    sim.faults.configure({PLACE_ORDER: {"latency_ms": 6000}})
    port = free_port()
    env = {**os.environ, "FLASK_EXCHANGE": "bitget", "FLASK_BITGET_BASE_URL": sim.url,
           "COPIER_INSTANCE_PATH": str(tmp_path / "instance"), "FLASK_PORT": str(port), "FLASK_HOST": "127.0.0.1",
           "FLASK_SCHEDULER_ENABLED": "false", "FLASK_API_TOKEN": TOKEN, "FLASK_SECRET_KEY": secret_key,
           "FLASK_VAULT_KEY": vault_key, "FLASK_BITGET_IP_LIMIT_PER_MINUTE": "0", "FLASK_MEASURE_FILLS": "false",
           "FLASK_SIM_SEED_ACCOUNTS": "false", "FLASK_BITGET_TIMEOUT_SECONDS": "30",
           "FLASK_SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"]}
    process = AppProcess(env, port, tmp_path / "app.log").start()
    try:
        threading.Thread(target=lambda: _quietly(process.api, "POST", "/api/replicate"), daemon=True).start()
        wait_until(lambda: sim.stats.snapshot({})["by_path"].get(PLACE_ORDER, 0) >= 1, timeout=20, step=0.01)
        process.kill()  # the order sits in the exchange's queue for a few more seconds
        intents = _rows(app, "SELECT client_oid, status FROM order_intent")
        assert [status for _, status in intents] == ["pending"]  # written before the request went out
        assert held(sim, "A") == {}
        process.start()
        answer = process.api("POST", "/api/replicate")
        assert answer.status_code == 200, answer.text
    finally:
        process.kill()
    wait_until(lambda: sim.stats.snapshot({})["by_path"].get(PLACE_ORDER, 0) >= 2, timeout=5)
    time.sleep(6.5)  # let every queued request reach the exchange
    target = {(BTC, "long"): Decimal("0.05")}
    assert held(sim, "A") == target
    assert max_held(sim)[("A", BTC, "long")] == Decimal("0.05")  # never above the target, at any moment
    assert len(sim.exchange.order_log_rows(account="A")) == 1  # one fill for the one intent
    oids = {oid for oid, _ in _rows(app, "SELECT client_oid, status FROM order_intent")}
    assert oids == {intents[0][0]}  # the restarted copier repeated the same intent, it made no new one


def _quietly(fn, *args) -> None:
    try:
        fn(*args)
    except requests.RequestException:
        pass


def _rows(app, sql: str) -> list[tuple]:
    return query_rows(app, sql)
