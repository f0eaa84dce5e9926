"""The copy engine in the real world, against the simulator over real HTTP: order of operations, fresh facts,
the client's own decisions, links that know their account, intents, and the slippage guard on increases."""
from __future__ import annotations

import time
from decimal import Decimal

import pytest

from app.accounts import service as accounts
from app.engine.replication.state import SymbolSettings
from app.store.extensions import db
from app.store.models import Account, OrderIntent, PositionLink
from tests.conftest import add_account, sim_account

BTC, ETH, SOL = "BTCUSDT", "ETHUSDT", "SOLUSDT"


def held(sim, name: str) -> dict[tuple[str, str], Decimal]:
    return {key: pos.size for key, pos in sim.exchange.account(name).positions.items()}


def by_name(report: dict) -> dict[str, dict]:
    return {r["account_name"]: r for r in report["results"]}


def links(app, account_id: int) -> dict[tuple[str, str], PositionLink]:
    with app.app_context():
        rows = db.session.query(PositionLink).filter_by(account_id=account_id).all()
        db.session.expunge_all()
        return {(r.symbol, r.hold_side): r for r in rows}


@pytest.fixture
def master(app, sim):
    sim.exchange.set_price(BTC, "80000")
    sim.exchange.set_price(ETH, "2000")
    sim.exchange.set_price(SOL, "100")
    return add_account(app, sim, "Master", role="master", balance="10000")


def test_a_refused_open_never_keeps_another_symbols_copy_open(app, client, sim, master):
    poor = add_account(app, sim, "A", balance="1000", sizing_mode="multiplier", sizing_value="1")
    sim.exchange.open_position("Master", SOL, "long", "10", leverage=10)
    assert client.post("/api/replicate").json["status"] == "ok"
    assert held(sim, "A") == {(SOL, "long"): Decimal("10")}
    # the master leaves SOL and opens an ETH position A cannot afford (4000 USDT of margin)
    sim.exchange.close_position("Master", SOL, "long")
    sim.exchange.open_position("Master", ETH, "long", "20", leverage=10)
    result = by_name(client.post("/api/replicate").json)["A"]
    assert held(sim, "A") == {}  # the SOL copy is closed in the same run
    assert result["status"] == "failed"
    assert "open 20 ETHUSDT long" in result["message"] and "close SOLUSDT long fully" in result["message"]
    assert links(app, poor) == {}  # the link written before the refused open is removed


def test_a_failure_on_one_symbol_does_not_stop_the_others(app, client, sim, master):
    add_account(app, sim, "A", balance="1000", sizing_mode="multiplier", sizing_value="1")
    sim.exchange.open_position("Master", ETH, "long", "20", leverage=10)  # too big for A
    sim.exchange.open_position("Master", SOL, "long", "10", leverage=10)  # fits
    result = by_name(client.post("/api/replicate").json)["A"]
    assert result["status"] == "failed" and "ETHUSDT" in result["message"]
    assert held(sim, "A") == {(SOL, "long"): Decimal("10")}


def test_a_new_copy_is_sized_from_equity_read_in_the_run_not_a_stale_cache(app, client, sim, master):
    account_id = add_account(app, sim, "A", balance="5000")
    cache = app.extensions["state"]
    # a cache that is a minute old and 10x too rich (the client withdrew since)
    cache.update(account_id, equity=Decimal("50000"), pos_mode="hedge_mode", fetched_at=time.time() - 60)
    sim.exchange.open_position("Master", BTC, "long", "0.1", leverage=10)
    assert client.post("/api/replicate").json["status"] == "ok"
    assert held(sim, "A") == {(BTC, "long"): Decimal("0.05")}  # 5000/10000 x 0.1, not 0.5


def test_max_leverage_holds_even_when_the_owner_changed_leverage_by_hand(app, client, sim, master):
    account_id = add_account(app, sim, "A", balance="5000", max_leverage=5)
    sim.exchange.open_position("Master", BTC, "long", "0.1", leverage=10)
    client.post("/api/replicate")
    assert sim.exchange.account("A").positions[(BTC, "long")].leverage == 5
    # the owner sets ETHUSDT to 50x in the exchange; the copier's cache still believes its own last setting
    with app.app_context():
        owner = app.extensions["gateway"].client_for(db.session.get(Account, account_id))
    app.extensions["state"].learn_settings(account_id, ETH, SymbolSettings("crossed", 5, 5))
    owner.set_leverage(ETH, 50)
    sim.exchange.open_position("Master", ETH, "long", "1", leverage=10)
    assert client.post("/api/replicate").json["status"] == "ok"
    assert sim.exchange.account("A").positions[(ETH, "long")].leverage == 5


def test_a_copy_closed_outside_the_copier_is_not_reopened(app, client, sim, master):
    account_id = add_account(app, sim, "A", balance="5000")
    sim.exchange.open_position("Master", BTC, "long", "0.1")
    client.post("/api/replicate")
    sim.exchange.close_position("A", BTC, "long")  # the client's own stop, or a manual close
    fills = len(sim.exchange.order_log_rows(account="A"))
    result = by_name(client.post("/api/replicate").json)["A"]
    assert held(sim, "A") == {}
    assert len(sim.exchange.order_log_rows(account="A")) == fills  # nothing sent
    assert "BTCUSDT long closed outside the copier at " in result["message"]
    assert "not re-opened" in result["message"]
    assert links(app, account_id)[(BTC, "long")].ended_at is not None
    # the master adds: still not re-opened for that master position
    sim.exchange.open_position("Master", BTC, "long", "0.1")
    client.post("/api/replicate")
    assert held(sim, "A") == {}
    # a new master position (after the master closed) is copied again
    sim.exchange.close_position("Master", BTC, "long")
    client.post("/api/replicate")
    sim.exchange.open_position("Master", BTC, "long", "0.1")
    client.post("/api/replicate")
    assert held(sim, "A") == {(BTC, "long"): Decimal("0.05")}


def test_reentry_after_an_external_close_when_the_client_allows_it(app, client, sim, master):
    add_account(app, sim, "A", balance="5000", reenter_after_external_close=True)
    sim.exchange.open_position("Master", BTC, "long", "0.1")
    client.post("/api/replicate")
    sim.exchange.close_position("A", BTC, "long")
    client.post("/api/replicate")
    # re-opened as a new copy, sized from the equity A has now (a little less: it paid fees)
    assert Decimal("0.049") <= held(sim, "A")[(BTC, "long")] <= Decimal("0.05")


@pytest.mark.sim_variants("second_pos_tpsl", "default_trigger_type")
def test_the_clients_own_stop_loss_stays(app, client, sim, master):
    add_account(app, sim, "A", balance="5000")
    sim.exchange.open_position("Master", BTC, "long", "0.1")
    client.post("/api/replicate")
    sim.exchange.set_tpsl("A", BTC, "long", sl="70000")  # set by hand on the copy
    sim.exchange.set_tpsl("Master", BTC, "long", tp="90000", sl="75000")
    report = client.post("/api/tpsl").json
    plans = {p["planType"]: p["triggerPrice"] for p in sim.exchange.plan_rows("A")}
    assert plans == {"pos_loss": "70000", "pos_profit": "90000"}  # own SL kept, the master's TP copied
    assert "the client's own BTCUSDT long stop-loss at 70000 stays" in by_name(report)["A"]["message"]
    sim.exchange.set_tpsl("Master", BTC, "long", sl="")  # the master drops its stop: the client's stays
    client.post("/api/tpsl")
    assert {p["planType"] for p in sim.exchange.plan_rows("A")} == {"pos_loss", "pos_profit"}
    # the TP the copier placed is its own: it follows the master
    sim.exchange.set_tpsl("Master", BTC, "long", tp="95000")
    client.post("/api/tpsl")
    assert {p["planType"]: p["triggerPrice"] for p in sim.exchange.plan_rows("A")}["pos_profit"] == "95000"


def test_links_are_dropped_when_the_keys_belong_to_another_bitget_account(app, client, sim, master):
    account_id = add_account(app, sim, "A", balance="5000")
    sim.exchange.open_position("Master", BTC, "long", "0.1")
    client.post("/api/replicate")
    uid_a = sim.exchange.account("A").user_id
    assert links(app, account_id)[(BTC, "long")].uid == uid_a
    other = sim_account(sim, "Other", "4000")
    with app.app_context():
        accounts.update_account(account_id, {"api_key": other["api_key"], "api_secret": other["api_secret"],
                                             "passphrase": other["passphrase"]})
    result = by_name(client.post("/api/replicate").json)["A"]
    assert "another Bitget uid" in result["message"]
    # the new account is copied as a new follower; the old account's copy is not this account's business
    assert held(sim, "Other") == {(BTC, "long"): Decimal("0.04")}
    assert held(sim, "A") == {(BTC, "long"): Decimal("0.05")}
    assert all(link.uid == sim.exchange.account("Other").user_id for link in links(app, account_id).values())


def test_the_slippage_guard_on_an_increase_looks_at_the_price_of_the_addition(app, client, sim, master):
    add_account(app, sim, "A", balance="5000", slippage_pct="0.5")
    sim.exchange.open_position("Master", BTC, "long", "0.1")
    client.post("/api/replicate")
    sim.exchange.set_price(BTC, "88000")  # 10 % up: the master adds at 88000, its average entry becomes 84000
    sim.exchange.open_position("Master", BTC, "long", "0.1")
    result = by_name(client.post("/api/replicate").json)["A"]
    assert result["status"] == "ok", result
    assert held(sim, "A") == {(BTC, "long"): Decimal("0.1")}
    # a mark far from the price of the addition is still refused
    sim.exchange.open_position("Master", BTC, "long", "0.1")
    sim.exchange.set_price(BTC, "95000")
    result = by_name(client.post("/api/replicate").json)["A"]
    assert "the price of the master's addition 88000" in result["message"]
    assert held(sim, "A") == {(BTC, "long"): Decimal("0.1")}


def test_orders_carry_intent_clientoids_written_before_they_are_sent(app, client, sim, master):
    account_id = add_account(app, sim, "A", balance="5000")
    sim.exchange.open_position("Master", BTC, "long", "0.1")
    report = client.post("/api/replicate").json
    oid = by_name(report)["A"]["orders"][0]["client_oid"]
    with app.app_context():
        intent = db.session.query(OrderIntent).filter_by(account_id=account_id).one()
        generation = db.session.query(PositionLink).filter_by(account_id=account_id).one().generation
        assert (intent.client_oid, intent.status, intent.kind, intent.generation) == (oid, "acked", "open", generation)
    assert oid.endswith(f"a{account_id}g{generation}o1")
