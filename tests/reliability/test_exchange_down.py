"""Exchange down (connection refused, or a server that never answers): the dashboard stays up and says why,
the poller keeps trying with growing backoff, /healthz reports it, and no run is left half-recorded."""
from __future__ import annotations

import socket
import threading
import time
from decimal import Decimal

import pytest

from app import create_app
from app.accounts import service as accounts
from app.sim.server import start_simulator
from tests.conftest import app_config, operator_client

from .helpers import BTC, RefusedPort, dump_db, wait_until

CREDS = {"api_key": "bg_down_key_0001", "api_secret": "down-secret-0001", "passphrase": "downpass01"}
TIMEOUT_S = 0.3
PAGE_BOUND_S = 1.0  # a page view must not wait for the exchange (4 attempts x TIMEOUT_S without the fix)


class SilentServer:
    """Accepts TCP connections and never answers (a hung exchange or a black-holing proxy)."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(512)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.conns: list[socket.socket] = []
        self._stop = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        self.sock.settimeout(0.05)
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.conns.append(conn)

    def stop(self) -> None:
        self._stop.set()
        for conn in self.conns:
            conn.close()
        self.sock.close()


@pytest.fixture(autouse=True)
def quick_retries(monkeypatch):
    """Keep the client's retries (tested in tests/bitget) but not their seconds of backoff."""
    from app.bitget.client import BitgetClient

    monkeypatch.setattr(BitgetClient, "_backoff", lambda self, retry_no: 0.01 * retry_no)


def make_down_app(kind: str, tmp_path):
    """An app whose exchange is down in the given way, with a master and two clients stored."""
    silent = None
    if kind == "refused":
        port = RefusedPort()
        url = port.url
    else:
        silent = SilentServer()
        port, url = None, silent.url
    app = create_app(app_config(tmp_path, url, BITGET_TIMEOUT_SECONDS=TIMEOUT_S, POLL_INTERVAL_SECONDS=0.05))
    with app.app_context():
        for role, name in (("master", "Master"), ("client", "Alpha"), ("client", "Beta")):
            accounts.create_account({"role": role, "name": name, **{k: f"{v}{name}" for k, v in CREDS.items()}})
    return app, port, silent


@pytest.fixture(params=["refused", "timeout"])
def down(request, tmp_path):
    app, port, silent = make_down_app(request.param, tmp_path)
    yield request.param, app, port
    app.extensions["replication"].executor.shutdown()
    if silent is not None:
        silent.stop()
    if port is not None:
        port.release()


@pytest.fixture
def refused(tmp_path):
    app, port, _ = make_down_app("refused", tmp_path)
    yield app, port
    app.extensions["replication"].executor.shutdown()
    port.release()


def logged_in(app):
    from werkzeug.security import generate_password_hash

    from app.store.models import set_setting
    from app.web.security import PASSWORD_KEY

    with app.app_context():
        set_setting(PASSWORD_KEY, generate_password_hash("correct horse battery"))
    return operator_client(app)


def timed(call):
    started = time.monotonic()
    answer = call()
    return answer, time.monotonic() - started


def test_dashboard_stays_up_and_shows_why_accounts_are_unreachable(down):
    kind, app, _ = down
    client = logged_in(app)
    reason = "timed out" if kind == "timeout" else "failed"

    refreshed = client.post("/api/refresh")
    assert refreshed.status_code == 200 and refreshed.json["failed"] == 3, refreshed.json

    # page views are served from the cache: they never wait for the dead exchange
    for path in ("/api/state", "/"):
        answer, seconds = timed(lambda p=path: client.get(p))
        assert answer.status_code == 200, (path, answer.status_code)
        assert seconds < PAGE_BOUND_S, f"{path} took {seconds:.2f}s while the exchange is down"
        if path == "/api/state":
            state = answer.json
    assert state["master"]["error"] and reason in state["master"]["error"], state["master"]
    for row in state["clients"]:
        assert row["sync"] == "error", row
        assert f"Connection to Bitget {reason}" in row["error"], row
        assert row["sync_detail"] == row["error"]
    assert f"Connection to Bitget {reason}" in answer.get_data(as_text=True)  # the reason reaches the page


def test_actions_fail_cleanly_and_nothing_is_half_recorded(down):
    kind, app, _ = down
    client = logged_in(app)
    ids = {a["name"]: a["id"] for a in client.get("/api/accounts").json["accounts"]}
    calls = [("/api/replicate", None), ("/api/close-all", {"confirm": True})]
    if kind == "refused":  # the rest behave the same; the silent server only makes them slower
        calls += [("/api/tpsl", None), (f"/api/sync/{ids['Alpha']}", None)]
    for path, body in calls:
        answer = client.post(path, json=body) if body else client.post(path)
        assert answer.status_code == 200, (path, answer.get_data(as_text=True))
        report = answer.json
        assert report["status"] == "failed", (path, report)
        assert report["results"] and all(r["status"] == "failed" for r in report["results"]), (path, report)
        assert all("Connection to Bitget" in r["message"] for r in report["results"]), (path, report)
    if kind == "refused":
        assert client.post("/actions/replicate").status_code == 302  # the button too, without a 500

    tables = dump_db(app, ("run", "run_result", "position_link"))
    assert tables["position_link"] == []  # no link without a position behind it
    with app.app_context():
        from app.store.extensions import db
        from app.store.models import Run

        runs = db.session.query(Run).all()
        assert runs, "every action leaves a run"
        for run in runs:
            assert run.status == "failed" and run.finished_at is not None, (run.action, run.status)
            assert run.results, run.action


def test_poller_keeps_trying_with_growing_backoff_and_health_reports_it(refused):
    app, port = refused
    poller = app.extensions["poller"]
    client = app.test_client()
    gaps, failures = [], []
    for _ in range(4):
        wait_until(lambda: time.time() >= poller.status.next_attempt_at, timeout=5, step=0.005)
        assert poller.tick() == []
        status = poller.status
        failures.append(status.failures)
        gaps.append(status.next_attempt_at - status.last_error_at)
        if gaps[-1] > 0.05 and time.time() < status.next_attempt_at - 0.02:  # still inside the window (a slow
            # machine may have used it up already): a tick there does not touch the exchange
            assert poller.tick() == [] and poller.status.failures == failures[-1]
    assert failures == [1, 2, 3, 4]  # it never gave up ...
    assert all(b > a for a, b in zip(gaps, gaps[1:], strict=False)), gaps  # ... and waited longer each time
    assert gaps[-1] <= 60

    health = client.get("/healthz")
    assert health.status_code == 200
    body = health.json
    assert body["database"] == "ok" and body["last_poll"] is None
    assert body["poll_failures"] == 4 and "Connection to Bitget failed" in body["last_poll_error"]

    # the exchange comes back on the same address: the next due tick succeeds and the backoff is reset
    sim = start_simulator(port=port.release(), price_walk=False)
    try:
        with app.app_context():
            master = accounts.get_master()
        sim.exchange.create_account("Master", Decimal("10000"), api_key=f"{CREDS['api_key']}Master",
                                    api_secret=f"{CREDS['api_secret']}Master",
                                    passphrase=f"{CREDS['passphrase']}Master")
        sim.exchange.open_position("Master", BTC, "long", "0.01")
        wait_until(lambda: time.time() >= poller.status.next_attempt_at, timeout=5, step=0.005)
        poller.tick()
        assert poller.status.failures == 0 and poller.status.last_success_at is not None
        body = client.get("/healthz").json
        assert body["last_poll"] is not None and body["poll_failures"] == 0
        view = app.extensions["state"].get(master.id)
        assert view.error is None and [p.symbol for p in view.positions] == [BTC]
    finally:
        sim.stop()
