"""The status strip tells where master changes come from, in a real browser: "live · WebSocket" while the
master's stream is up (a trade on the simulator shows up on the client at once), "polling · WebSocket down
since HH:MM (reason)" once the simulator refuses it, and polling still copies the next trade."""
from __future__ import annotations

import threading
import time
from decimal import Decimal

import pytest
from cryptography.fernet import Fernet
from playwright.sync_api import expect

from tests.browser.conftest import PASSWORD, Live, free_port

pytestmark = pytest.mark.browser
BTC = "BTCUSDT"


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    """Simulator + copier with the master's WebSocket on and auto-follow on (no scheduler: polls by hand)."""
    from werkzeug.serving import make_server

    from app import create_app
    from app.accounts import service
    from app.feeds.poller import set_auto_follow
    from app.sim.server import start_simulator

    sim = start_simulator(port=0, price_walk=False)
    sim.exchange.set_price(BTC, "80000")
    creds = {"Master": sim.exchange.create_account("Master", balance=Decimal("10000")),
             "Alpha": sim.exchange.create_account("Alpha", balance=Decimal("5000"))}
    app = create_app({
        "TESTING": False, "INSTANCE_PATH": str(tmp_path_factory.mktemp("stream") / "instance"),
        "EXCHANGE": "bitget", "BITGET_BASE_URL": sim.url, "BITGET_WS_URL": sim.ws_url, "WS_TIMEOUT_SECONDS": 3,
        "SCHEDULER_ENABLED": False, "SECRET_KEY": "x" * 32, "VAULT_KEY": Fernet.generate_key().decode(),
        "WTF_CSRF_ENABLED": True, "BITGET_IP_LIMIT_PER_MINUTE": 0, "EXECUTOR_MAX_WORKERS": 8,
        "TELEGRAM_API_URL": "http://127.0.0.1:9",
    })
    with app.app_context():
        for name, c in creds.items():
            service.create_account({"role": "master" if name == "Master" else "client", "name": name,
                                    "api_key": c["api_key"], "api_secret": c["api_secret"],
                                    "passphrase": c["passphrase"]})
        set_auto_follow(True)
    app.extensions["master_feed"].start()
    port = free_port()
    server = make_server("127.0.0.1", port, app, threaded=True)
    threading.Thread(target=server.serve_forever, name="copier-http", daemon=True).start()
    yield Live(sim=sim, app=app, url=f"http://127.0.0.1:{port}", creds=creds)
    app.extensions["master_feed"].stop()
    server.shutdown()
    app.extensions["replication"].executor.shutdown()
    sim.stop()


def test_the_strip_says_live_and_a_trade_lands_at_once(page, live):
    feed = live.app.extensions["master_feed"]
    end = time.monotonic() + 10
    while not feed.live and time.monotonic() < end:
        time.sleep(0.05)
    assert feed.live
    page.goto(live.url + "/setup")
    page.fill("#password", PASSWORD)
    page.fill("#confirm", PASSWORD)
    page.click("button[type=submit]")
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    expect(page.locator("#source-status")).to_contain_text("live · WebSocket")
    live.sim.exchange.open_position("Master", BTC, "long", "0.1")
    end = time.monotonic() + 3
    while live.positions("Alpha") != {(BTC, "long"): Decimal("0.05")} and time.monotonic() < end:
        time.sleep(0.02)
    assert live.positions("Alpha") == {(BTC, "long"): Decimal("0.05")}
    expect(page.locator("#source-status")).to_contain_text("last push")


def test_a_refused_stream_shows_polling_with_the_reason_and_polling_still_copies(page, live):
    live.sim.ws.configure({"refuse_logins": True, "drop": True})
    source = page.locator("#source-status")
    expect(source).to_contain_text("polling · WebSocket down since", timeout=15_000)
    expect(source).to_contain_text("login refused: 30005")
    expect(page.locator(".banner[data-key=master-stream-login]")).to_be_visible(timeout=15_000)
    live.sim.exchange.open_position("Master", BTC, "long", "0.1")
    live.app.extensions["poller"].tick()  # what the scheduler does every POLL_INTERVAL_SECONDS
    assert live.positions("Alpha") == {(BTC, "long"): Decimal("0.1")}
