"""The request budget against the simulator with Bitget's rate limits on: an action alongside background
refreshes gets no 429; an IP lockout is recognised, stops all sending, and is shown and announced once."""
from __future__ import annotations

import threading
import time
from decimal import Decimal

import pytest

from app import create_app
from app.bitget import budget as budget_module
from tests.conftest import add_account, app_config, operator_client, shutdown

BTC = "BTCUSDT"


@pytest.fixture
def budgeted(tmp_path, sim):
    """The copier with its default request budget (the simulator's limits are on by default)."""
    application = create_app(app_config(tmp_path, sim.url, BITGET_IP_LIMIT_PER_MINUTE=5700, MEASURE_FILLS=False))
    yield application
    shutdown(application)


def refused(sim) -> int:
    return int(sim.stats.snapshot({})["rate_limited"]["total"])


def test_a_replicate_beside_busy_background_refreshes_is_never_refused(budgeted, sim):
    from app.feeds.refresh import refresh_accounts

    sim.exchange.set_price(BTC, "80000")
    add_account(budgeted, sim, "Master", role="master", balance="100000")
    names = [f"C{i:02d}" for i in range(40)]
    for name in names:
        add_account(budgeted, sim, name, balance="5000")
    stop = threading.Event()

    def refresh_loop() -> None:  # the background reading as hard as it may
        while not stop.is_set():
            refresh_accounts(budgeted, clients_only=True)

    reader = threading.Thread(target=refresh_loop, daemon=True)
    reader.start()
    try:
        time.sleep(0.5)
        sim.exchange.open_position("Master", BTC, "long", "1", leverage=10)
        report = operator_client(budgeted).post("/api/replicate").json
    finally:
        stop.set()
        reader.join(30)
    assert report["status"] == "ok", [r for r in report["results"] if r["status"] != "ok"][:2]
    assert all(sim.exchange.account(n).positions[(BTC, "long")].size == Decimal("0.05") for n in names)
    stats = sim.stats.snapshot({})
    limited = stats["rate_limited"]
    assert limited["ip_window"] == limited["lockout"] == limited["public_ip"] == 0  # the IP budget held
    # per account, every endpoint is held under its limit; a machine starved of CPU can still deliver two
    # requests closer together than they were sent (the refresh loop here hammers every account at its limit)
    assert limited["uid_endpoint"] <= max(2, stats["total"] // 200), limited
    snap = budgeted.extensions["gateway"].budget.snapshot()
    assert snap.by_class["background"] <= snap.background_cap


def test_an_ip_lockout_stops_every_request_and_is_shown_once(budgeted, sim, monkeypatch):
    monkeypatch.setattr(budget_module, "SHORT_PAUSE_SECONDS", 0.3)
    add_account(budgeted, sim, "Master", role="master", balance="100000")
    for i in range(6):
        add_account(budgeted, sim, f"C{i}", balance="5000")
    sim.limits.configure(ip_per_minute=20, lockout_seconds=30)  # an IP budget the copier does not know about
    operator = operator_client(budgeted)
    first = operator.post("/api/replicate").json  # trips the exchange's lockout
    budget = budgeted.extensions["gateway"].budget
    deadline = time.monotonic() + 20
    while budget.snapshot().lockout_until is None and time.monotonic() < deadline:
        operator.post("/api/replicate")  # the copier keeps meeting 429s until it recognises the lockout
    assert budget.snapshot().lockout_until is not None, first
    sent = sim.stats.snapshot({})["total"]
    report = operator.post("/api/replicate").json
    assert sim.stats.snapshot({})["total"] == sent  # nothing at all is sent while locked out
    assert "Bitget rate limit hit: every account blocked until" in report["results"][0]["message"]
    state = operator.get("/api/state").json
    banners = [b["text"] for b in state["banners"]]
    assert any(t.startswith("Bitget rate limit hit: every account blocked until") for t in banners), banners
    assert state["budget"]["lockout_until"] is not None
    health = budgeted.test_client().get("/healthz").json["request_budget"]
    assert health["lockout_until"] is not None and health["rate_limited_answers"] >= 1
    from app.feeds.watchdog import Watchdog

    watchdog = Watchdog()
    appeared, _ = watchdog.check(budgeted)
    assert "rate-limit" in appeared  # one alert when it starts ...
    assert "rate-limit" not in watchdog.check(budgeted)[0]  # ... none while it lasts
    budget.clear_lockout()
    assert "rate-limit" in watchdog.check(budgeted)[1]  # and one "recovered" when it is over
