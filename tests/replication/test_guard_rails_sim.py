"""Guard rails against the simulator: slippage, round-up, copy-existing, loss protection, watchdog, verify hints."""
from __future__ import annotations

import time
from decimal import Decimal

import pytest

from app.engine.tasks import wait_for_background
from app.feeds.refresh import refresh_accounts
from app.feeds.watchdog import Watchdog
from app.store.extensions import db
from app.store.models import Account
from tests.conftest import add_account
from tests.replication.test_service_sim import BTC, by_name, held


@pytest.fixture
def notified(app, receiver):
    """Discord, generic webhook and Telegram all pointed at the local receiver."""
    app.config.update(DISCORD_WEBHOOK_URL=f"{receiver.url}/discord", WEBHOOK_URL=f"{receiver.url}/hook",
                      TELEGRAM_BOT_TOKEN="123456:ABCDEFGHIJKLMNOPQRSTUVWXYZ", TELEGRAM_CHAT_ID="-100123",
                      TELEGRAM_API_URL=f"{receiver.url}/telegram")
    return receiver


def test_entry_slippage_guard_skips_opens_but_never_closes(app, client, sim):
    sim.exchange.set_price(BTC, "80000")
    add_account(app, sim, "Master", role="master")
    add_account(app, sim, "A", balance="5000")
    sim.exchange.open_position("Master", BTC, "long", "0.1")
    sim.exchange.set_price(BTC, "80500")  # +0.625% against a new long
    result = by_name(client.post("/api/replicate").json)["A"]
    assert result["status"] == "skipped" and "slippage" in result["message"].lower(), result
    assert held(sim, "A") == {}
    sim.exchange.set_price(BTC, "80200")  # back within 0.5%
    assert by_name(client.post("/api/replicate").json)["A"]["status"] == "ok"
    sim.exchange.set_price(BTC, "85000")
    sim.exchange.close_position("Master", BTC, "long")
    assert by_name(client.post("/api/replicate").json)["A"]["status"] == "ok"  # the close is never guarded
    assert held(sim, "A") == {}


def test_below_minimum_round_up_only_within_factor(app, client, sim):
    sim.exchange.set_price(BTC, "80000")
    add_account(app, sim, "Master", role="master", balance="10000")
    add_account(app, sim, "Small", balance="6", below_min_rule="round_up")  # exact 0.00006 -> 0.0001 (x1.67)
    add_account(app, sim, "Tiny", balance="3", below_min_rule="round_up")  # exact 0.00003 -> would be x3.3
    sim.exchange.open_position("Master", BTC, "long", "0.1")
    results = by_name(client.post("/api/replicate").json)
    assert results["Small"]["status"] == "ok" and held(sim, "Small") == {(BTC, "long"): Decimal("0.0001")}
    assert results["Tiny"]["status"] == "skipped" and "0.0001" in results["Tiny"]["message"]
    assert held(sim, "Tiny") == {}


def test_copy_existing_positions_only_when_toggled(app, client, sim):
    sim.exchange.set_price(BTC, "80000")
    add_account(app, sim, "Master", role="master")
    sim.exchange.open_position("Master", BTC, "long", "0.1")
    time.sleep(0.01)
    add_account(app, sim, "Late", balance="10000")
    add_account(app, sim, "Eager", balance="10000", copy_existing=True)
    results = by_name(client.post("/api/replicate").json)
    assert results["Late"]["status"] == "skipped" and "copy existing" in results["Late"]["message"]
    assert held(sim, "Late") == {}
    assert held(sim, "Eager") == {(BTC, "long"): Decimal("0.1")}
    sim.exchange.open_position("Master", "ETHUSDT", "short", "1")  # opened after Late started following
    client.post("/api/replicate")
    assert held(sim, "Late") == {("ETHUSDT", "short"): Decimal("1")}


def test_daily_loss_limit_stops_opening_but_allows_closing(app, client, sim, notified):
    sim.exchange.set_price(BTC, "80000")
    add_account(app, sim, "Master", role="master")
    client_id = add_account(app, sim, "L", balance="10000", daily_loss_limit="100")
    sim.exchange.open_position("Master", BTC, "long", "0.1")
    client.post("/api/replicate")
    refresh_accounts(app)  # loss tracking starts
    sim.exchange.set_price(BTC, "78000")  # the copy lost 200 today (unrealized)
    refresh_accounts(app)
    with app.app_context():
        account = db.session.get(Account, client_id)
        assert account.loss_fired_at is not None and "daily loss" in account.loss_fired_reason
        assert account.paused is False
    state = client.get("/api/state").json
    row = next(c for c in state["clients"] if c["id"] == client_id)
    assert row["loss"]["fired_at"] and row["loss"]["action"] == "close_only"
    sim.exchange.open_position("Master", BTC, "long", "0.1")  # increase: blocked
    result = by_name(client.post("/api/replicate").json)["L"]
    assert result["status"] == "skipped" and "daily loss" in result["message"]
    sim.exchange.close_position("Master", BTC, "long")  # close: still copied
    client.post("/api/replicate")
    assert held(sim, "L") == {}
    assert notified.wait_for(3)
    assert any("loss protection on L" in b.get("text", b.get("content", "")) for b in notified.bodies())


def test_drawdown_limit_closes_everything_and_pauses(app, client, sim, notified):
    sim.exchange.set_price(BTC, "80000")
    add_account(app, sim, "Master", role="master")
    client_id = add_account(app, sim, "D", balance="10000", drawdown_limit_pct="5", loss_action="close_all_pause")
    sim.exchange.open_position("Master", BTC, "long", "0.1")
    client.post("/api/replicate")
    refresh_accounts(app)
    sim.exchange.set_price(BTC, "74000")  # -600 on the copy: 6 % below the peak
    refresh_accounts(app)
    assert wait_for_background(app)  # the close runs in the background, under the replication lock
    assert held(sim, "D") == {}
    with app.app_context():
        account = db.session.get(Account, client_id)
        assert account.paused is True and "drawdown" in account.loss_fired_reason
    deadline = time.monotonic() + 5
    while not any("closed and paused" in b.get("text", b.get("content", "")) for b in notified.bodies()):
        assert time.monotonic() < deadline, notified.bodies()
        time.sleep(0.02)
    assert by_name(client.post("/api/replicate").json)["D"]["status"] == "skipped"
    reset = client.post(f"/api/accounts/{client_id}/reset-loss").json
    assert reset["loss_fired_at"] is None


def test_watchdog_banner_and_notifications_on_problem_and_recovery(app, client, sim, notified):
    master_id = add_account(app, sim, "Master", role="master")
    dog = Watchdog()
    refresh_accounts(app)
    assert dog.check(app) == ([], [])
    # the key stops working (e.g. revoked on the exchange): store a passphrase the exchange refuses
    client.patch(f"/api/accounts/{master_id}", json={"passphrase": "nolongervalid", "verify": False})
    refresh_accounts(app)
    banners = client.get("/api/state").json["banners"]
    assert any("authentication failed" in b["text"] for b in banners)
    appeared, _ = dog.check(app)
    assert appeared
    creds = next(a for a in sim.exchange.list_accounts() if a["name"] == "Master")
    client.patch(f"/api/accounts/{master_id}", json={"passphrase": creds["passphrase"]})
    refresh_accounts(app)
    _, recovered = dog.check(app)
    assert recovered
    assert notified.wait_for(6)
    texts = [b.get("text") or b.get("content") for b in notified.bodies()]
    assert any("PROBLEM" in t for t in texts) and any("RECOVERED" in t for t in texts)
    telegram = notified.bodies("/telegram/bot123456:ABCDEFGHIJKLMNOPQRSTUVWXYZ/sendMessage")
    assert telegram and telegram[0]["chat_id"] == "-100123"
    assert notified.bodies("/discord") and notified.bodies("/hook")


@pytest.mark.parametrize("change,expected", [
    ({"passphrase": "wrongwrong"}, "passphrase is the one you typed"),
    ({"api_secret": "not-the-secret"}, "secret is probably wrong"),
    ({"api_key": "sim_doesnotexist"}, "does not know this API key"),
    ({"demo": True}, "demo trading key"),
])
def test_verify_explains_key_problems_plainly(app, client, sim, change, expected):
    account_id = add_account(app, sim, "V")
    client.patch(f"/api/accounts/{account_id}", json={**change, "verify": False})  # stored unchecked
    answer = client.post(f"/api/accounts/{account_id}/verify")
    assert answer.status_code == 502
    assert expected in answer.json["error"]["message"]


def test_orders_record_latency_fill_price_and_slippage(app, client, sim):
    sim.exchange.set_price(BTC, "80000")
    add_account(app, sim, "Master", role="master")
    add_account(app, sim, "Q", balance="5000")
    sim.exchange.open_position("Master", BTC, "long", "0.1")
    sim.exchange.set_price(BTC, "80100")
    run_id = client.post("/api/replicate").json["run_id"]
    wait_for_background(app)
    order = client.get(f"/api/runs/{run_id}").json["results"][0]["orders"][-1]
    assert order["kind"] == "open" and order["submit_to_ack_ms"] >= 0
    assert Decimal(order["fill_price"]) == Decimal("80100")
    assert Decimal(order["slippage_pct"]) > 0  # paid more than the master's entry
    csv_text = client.get("/history.csv").get_data(as_text=True)
    assert "slippage_pct" in csv_text.splitlines()[0] and order["slippage_pct"] in csv_text
