"""Close-all and close-symbol as an emergency stop, against the simulator over real HTTP: positions closed, pending
orders and TP/SL plans cancelled, "flat" only after re-reading, auto-follow switched off with a visible reason."""
from __future__ import annotations

import re
from decimal import Decimal

import pytest

from tests.conftest import add_account

BTC, ETH = "BTCUSDT", "ETHUSDT"
NAMES = ("Master", "A", "B")
NOTICE = re.compile(r"Auto-follow was switched off by the emergency close \((?P<what>[^)]+)\) at "
                    r"\d{4}-\d\d-\d\d \d\d:\d\d UTC; turn it on again deliberately\.")


def held(sim, name: str) -> dict[tuple[str, str], Decimal]:
    return {key: pos.size for key, pos in sim.exchange.account(name).positions.items()}


def live_orders(sim, name: str) -> dict[str, str]:
    """Resting orders of an account: order id -> symbol."""
    return {oid: order.symbol for oid, order in sim.exchange.account(name).live_orders.items()}


def plans(sim, name: str) -> set[tuple[str, str]]:
    return {(p["symbol"], p["planType"]) for p in sim.exchange.plan_rows(name)}


def by_name(report: dict) -> dict[str, dict]:
    return {r["account_name"]: r for r in report["results"]}


def exposed(sim, name: str, symbol: str = BTC, price: str = "80000") -> None:
    """A position with TP and SL, a resting limit open below the mark and one resting limit close above it."""
    low, high = Decimal(price) * Decimal("0.9"), Decimal(price) * Decimal("1.1")
    ex = sim.exchange
    ex.trade(name, "open", symbol=symbol, side="long", size="0.02" if symbol == BTC else "1")
    ex.trade(name, "set_tpsl", symbol=symbol, side="long", tp=str(high * Decimal("1.05")), sl=str(low))
    ex.trade(name, "open", symbol=symbol, side="long", size="0.01" if symbol == BTC else "1",
             order_type="limit", price=str(low))
    ex.trade(name, "open", symbol=symbol, side="short", size="0.01" if symbol == BTC else "1",
             order_type="limit", price=str(high))


@pytest.fixture
def setup(app, sim):
    """Master and two hedge clients, every one with a position, TP/SL and two resting orders on BTC."""
    sim.exchange.set_price(BTC, "80000")
    sim.exchange.set_price(ETH, "3000")
    add_account(app, sim, "Master", role="master", balance="10000")
    add_account(app, sim, "A", balance="10000")
    add_account(app, sim, "B", balance="10000")
    for name in NAMES:
        exposed(sim, name)
        assert len(live_orders(sim, name)) == 2 and plans(sim, name) == {(BTC, "pos_profit"), (BTC, "pos_loss")}
    return sim


@pytest.fixture
def quick_retries(monkeypatch):
    """Keep the client's retries but not their seconds of backoff."""
    from app.bitget.client import BitgetClient

    monkeypatch.setattr(BitgetClient, "_backoff", lambda self, retry_no: 0.01 * retry_no)


def state(client) -> dict:
    return client.get("/api/state").json


def notice_in(payload: dict) -> list[str]:
    return [b["text"] for b in payload["banners"] if b["key"] == "auto-follow-off"]


@pytest.mark.sim_variants("cancel_plan_profit_loss", "one_way_plan_side", "oversized_close")
def test_close_all_leaves_every_account_flat_with_no_orders_and_no_plans(app, client, setup):
    sim = setup
    report = client.post("/api/close-all", json={"confirm": True}).json
    assert report["status"] == "ok", report
    for name in NAMES:
        assert held(sim, name) == {}, name
        assert live_orders(sim, name) == {}, name
        assert plans(sim, name) == set(), name
        result = by_name(report)[name]
        assert result["status"] == "ok" and result["message"].endswith("flat, no open orders"), result
        assert "cancelled 2 pending order(s)" in result["message"], result
        kinds = [o["kind"] for o in result["orders"]]
        assert kinds.count("close") == 1 and kinds.count("cancel") == 2, result["orders"]
    again = by_name(client.post("/api/close-all", json={"confirm": True}).json)
    assert all(r["message"] == "nothing to close: no open positions or orders; flat, no open orders"
               for r in again.values()), again


def test_close_all_switches_auto_follow_off_and_says_so_until_it_is_turned_on(app, client, setup):
    assert client.post("/api/auto-follow", json={"on": True}).json["on"] is True
    assert notice_in(state(client)) == []
    client.post("/api/close-all", json={"confirm": True})

    assert client.get("/api/auto-follow").json == {"on": False}
    payload = state(client)
    reason = payload["auto_follow_off_reason"]
    assert payload["auto_follow"] is False and "(close-all)" in reason, payload
    (text,) = notice_in(payload)
    assert NOTICE.fullmatch(text).group("what") == "close-all", text
    assert text in client.get("/").get_data(as_text=True)  # the page itself, before any script runs
    assert reason in client.get("/settings").get_data(as_text=True)

    saved = client.post("/settings", data={"auto_follow": ""})  # saving the settings with auto-follow off keeps it
    assert saved.status_code == 302, saved.get_data(as_text=True)
    assert notice_in(state(client)) == [text]
    assert client.post("/settings", data={"auto_follow": "1"}).status_code == 302  # on again: the notice goes
    assert notice_in(state(client)) == [] and reason not in client.get("/settings").get_data(as_text=True)
    client.post("/api/close-all", json={"confirm": True})  # the settings page turned it on: off again, noticed
    assert len(notice_in(state(client))) == 1
    assert client.post("/api/auto-follow", json={"on": True}).json == {"on": True}
    payload = state(client)
    assert payload["auto_follow"] is True and payload["auto_follow_off_reason"] is None
    assert notice_in(payload) == []
    client.post("/api/auto-follow", json={"on": False})  # turned off by hand: no emergency notice
    assert notice_in(state(client)) == []


def test_the_form_toggle_also_clears_the_notice_and_no_notice_when_it_was_already_off(app, client, setup):
    client.post("/api/close-symbol", json={"symbol": ETH, "confirm": True})  # auto-follow was off: no notice
    assert notice_in(state(client)) == [] and state(client)["auto_follow_off_reason"] is None
    client.post("/actions/auto-follow", data={"on": "1"})
    client.post("/api/close-symbol", json={"symbol": ETH, "confirm": True})
    (text,) = notice_in(state(client))
    assert NOTICE.fullmatch(text).group("what") == "close ETHUSDT everywhere", text
    assert client.post("/actions/auto-follow", data={"on": "1"}).status_code == 302
    assert notice_in(state(client)) == [] and client.get("/api/auto-follow").json["on"] is True


@pytest.mark.sim_variants("cancel_plan_profit_loss", "one_way_plan_side", "oversized_close")
def test_close_symbol_touches_only_that_symbol(app, client, setup):
    sim = setup
    for name in NAMES:
        exposed(sim, name, ETH, "3000")
    btc_orders = {name: {oid for oid, sym in live_orders(sim, name).items() if sym == BTC} for name in NAMES}
    report = client.post("/api/close-symbol", json={"symbol": ETH, "confirm": True}).json
    assert report["status"] == "ok", report
    for name in NAMES:
        assert held(sim, name) == {(BTC, "long"): Decimal("0.02")}, name
        assert set(live_orders(sim, name)) == btc_orders[name], name
        assert plans(sim, name) == {(BTC, "pos_profit"), (BTC, "pos_loss")}, name
        assert by_name(report)[name]["message"].endswith("ETHUSDT flat, no open orders"), report


def test_an_account_whose_cancels_fail_is_reported_with_what_remains_the_others_are_flat(app, client, setup,
                                                                                         quick_retries):
    sim = setup
    for name in ("Master", "B"):  # only A still has resting orders when the cancels start failing
        for order_id in list(live_orders(sim, name)):
            sim.exchange.trade(name, "cancel", order_id=order_id)
    sim.faults.configure({"/api/v2/mix/order/cancel-order": {"p_5xx": 1}})
    report = client.post("/api/close-all", json={"confirm": True}).json
    results = by_name(report)
    assert report["status"] == "partial", report
    failed = results["A"]
    assert failed["status"] == "failed", failed
    assert failed["message"].startswith("still open: 2 pending orders (BTCUSDT) - cancel order "), failed
    assert held(sim, "A") == {} and plans(sim, "A") == set()  # the close itself went through
    assert len(live_orders(sim, "A")) == 2
    for name in ("Master", "B"):
        assert results[name]["status"] == "ok", results[name]
        assert held(sim, name) == {} and live_orders(sim, name) == {} and plans(sim, name) == set()


@pytest.mark.sim_variants("one_way_plan_side", "cancel_plan_profit_loss")
def test_a_one_way_position_that_cannot_close_keeps_its_tpsl_whatever_the_plan_rows_say(app, client, setup):
    """The close fails (symbol in maintenance): the sweep must keep that one-way position's TP/SL, however Bitget
    fills side/tradeSide on one-way plan rows (REFERENCE 10.4), and still cancel its other symbol's leftovers."""
    sim = setup
    add_account(app, sim, "W", balance="10000", pos_mode="one_way_mode")
    for symbol, size in ((BTC, "0.02"), (ETH, "1")):
        sim.exchange.trade("W", "open", symbol=symbol, side="long", size=size)
        sim.exchange.trade("W", "set_tpsl", symbol=symbol, side="long",
                           tp="95000" if symbol == BTC else "4000", sl="60000" if symbol == BTC else "2000")
    sim.exchange.set_symbol_status(BTC, "maintain")
    report = client.post("/api/close-all", json={"confirm": True}).json
    result = by_name(report)["W"]
    assert result["status"] == "failed" and "still open: BTCUSDT long 0.02" in result["message"], result
    assert held(sim, "W") == {(BTC, "long"): Decimal("0.02")}
    assert plans(sim, "W") == {(BTC, "pos_profit"), (BTC, "pos_loss")}  # the only protection it has left
