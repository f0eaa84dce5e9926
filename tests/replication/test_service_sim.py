"""Replication end to end: the copier's service and API against the simulator over real HTTP."""
from __future__ import annotations

from decimal import Decimal

import pytest

from app.store.extensions import db
from app.store.models import PositionLink
from tests.conftest import add_account

BTC = "BTCUSDT"


def held(sim, name: str) -> dict[tuple[str, str], Decimal]:
    """What an account holds on the simulator."""
    account = sim.exchange.account(name)
    return {key: pos.size for key, pos in account.positions.items()}


def fills(sim, name: str) -> int:
    return len(sim.exchange.order_log_rows(account=name))


def by_name(report: dict) -> dict[str, dict]:
    return {r["account_name"]: r for r in report["results"]}


@pytest.fixture
def setup(app, sim):
    """Master 10000 (hedge), A 5000 (hedge), B 2500 (one-way), C 1000 (hedge); BTC at 80000."""
    sim.exchange.set_price(BTC, "80000")
    add_account(app, sim, "Master", role="master", balance="10000")
    add_account(app, sim, "A", balance="5000")
    add_account(app, sim, "B", balance="2500", pos_mode="one_way_mode")
    add_account(app, sim, "C", balance="1000")
    return sim


@pytest.mark.sim_variants("margin_mode_mismatch", "oversized_close")
def test_replicate_scales_by_equity_in_both_position_modes_and_is_idempotent(app, client, setup):
    sim = setup
    sim.exchange.open_position("Master", BTC, "long", "0.1", leverage=10, margin_mode="isolated")
    report = client.post("/api/replicate").json
    assert report["status"] == "ok", report
    assert held(sim, "A") == {(BTC, "long"): Decimal("0.05")}
    assert held(sim, "B") == {(BTC, "long"): Decimal("0.025")}
    assert held(sim, "C") == {(BTC, "long"): Decimal("0.01")}
    for name in "ABC":
        pos = sim.exchange.account(name).positions[(BTC, "long")]
        assert (pos.leverage, pos.margin_mode) == (10, "isolated")
        assert by_name(report)[name]["orders"][0]["order_id"]
    before = {n: fills(sim, n) for n in "ABC"}
    again = client.post("/api/replicate").json
    assert {r["status"] for r in again["results"]} == {"ok"}
    assert all("in sync" in r["message"] for r in again["results"])
    assert {n: fills(sim, n) for n in "ABC"} == before  # no second order


@pytest.mark.sim_variants("oversized_close", "one_way_close_ack")
def test_increase_and_partial_close_use_the_frozen_factor(app, client, setup):
    sim = setup
    sim.exchange.open_position("Master", BTC, "long", "0.1")
    client.post("/api/replicate")
    sim.exchange.update_account("A", balance="50000")  # equity moves must not change the frozen factor
    sim.exchange.open_position("Master", BTC, "long", "0.1")
    client.post("/api/replicate")
    assert held(sim, "A")[(BTC, "long")] == Decimal("0.1")
    sim.exchange.close_position("Master", BTC, "long", "0.15")
    report = client.post("/api/replicate").json
    assert report["status"] == "ok"
    assert held(sim, "A")[(BTC, "long")] == Decimal("0.025")
    assert held(sim, "B")[(BTC, "long")] == Decimal("0.0125")


@pytest.mark.sim_variants("oversized_close", "one_way_close_ack")
def test_master_close_closes_linked_positions_and_forgets_links(app, client, setup):
    sim = setup
    sim.exchange.open_position("Master", BTC, "short", "0.1")
    client.post("/api/replicate")
    assert held(sim, "B") == {(BTC, "short"): Decimal("0.025")}
    sim.exchange.close_position("Master", BTC, "short")
    report = client.post("/api/replicate").json
    assert report["status"] == "ok", report
    assert all(held(sim, n) == {} for n in "ABC")
    with app.app_context():
        assert db.session.query(PositionLink).count() == 0


def test_unlinked_client_positions_are_never_touched_by_replicate(app, client, setup):
    sim = setup
    sim.exchange.open_position("A", "ETHUSDT", "long", "1")  # the client's own trade
    sim.exchange.open_position("Master", BTC, "long", "0.1")
    client.post("/api/replicate")
    assert held(sim, "A")[("ETHUSDT", "long")] == Decimal("1")
    sim.exchange.close_position("Master", BTC, "long")
    client.post("/api/replicate")
    assert held(sim, "A") == {("ETHUSDT", "long"): Decimal("1")}


@pytest.mark.parametrize("mode,value,expected", [
    ("multiplier", "0.5", Decimal("0.05")),
    ("fixed_margin", "100", Decimal("0.0125")),  # 100 USDT x 10 / 80000
    ("equity_ratio", "2", Decimal("0.06")),  # 3000/10000 x 2 x 0.1
])
def test_sizing_modes(app, client, sim, mode, value, expected):
    sim.exchange.set_price(BTC, "80000")
    add_account(app, sim, "Master", role="master", balance="10000")
    add_account(app, sim, "S", balance="3000", sizing_mode=mode, sizing_value=value)
    sim.exchange.open_position("Master", BTC, "long", "0.1", leverage=10)
    report = client.post("/api/replicate").json
    assert report["status"] == "ok", report
    assert held(sim, "S") == {(BTC, "long"): expected}


def test_below_minimum_and_risk_limits_are_skipped_with_reasons(app, client, sim):
    sim.exchange.set_price(BTC, "80000")
    add_account(app, sim, "Master", role="master", balance="10000")
    add_account(app, sim, "Tiny", balance="5")
    add_account(app, sim, "EthOnly", balance="10000", allowed_symbols="ETHUSDT")
    add_account(app, sim, "Capped", balance="10000", max_notional="2000")
    add_account(app, sim, "Paused", balance="10000", paused=True)
    sim.exchange.open_position("Master", BTC, "long", "0.1")
    results = by_name(client.post("/api/replicate").json)
    assert results["Tiny"]["status"] == "skipped" and "0.0001" in results["Tiny"]["message"]
    assert results["EthOnly"]["status"] == "skipped" and "allowed" in results["EthOnly"]["message"]
    assert results["Paused"]["status"] == "skipped" and "paused" in results["Paused"]["message"]
    assert results["Capped"]["status"] == "ok"
    assert held(sim, "Capped") == {(BTC, "long"): Decimal("0.025")}  # 2000 USDT / 80000
    assert held(sim, "Tiny") == held(sim, "EthOnly") == held(sim, "Paused") == {}


@pytest.mark.sim_variants("second_pos_tpsl", "cancel_plan_profit_loss", "default_trigger_type", "one_way_plan_side")
def test_tpsl_create_modify_remove(app, client, setup):
    sim = setup
    sim.exchange.open_position("Master", BTC, "long", "0.1")
    client.post("/api/replicate")
    sim.exchange.set_tpsl("Master", BTC, "long", tp="90000", sl="75000")
    assert client.post("/api/tpsl").json["status"] == "ok"
    for name in "ABC":
        plans = {p["planType"]: p["triggerPrice"] for p in sim.exchange.plan_rows(name)}
        assert plans == {"pos_profit": "90000", "pos_loss": "75000"}, name
    sim.exchange.set_tpsl("Master", BTC, "long", tp="95000", sl="")
    assert client.post("/api/tpsl").json["status"] == "ok"
    for name in "ABC":
        plans = {p["planType"]: p["triggerPrice"] for p in sim.exchange.plan_rows(name)}
        assert plans == {"pos_profit": "95000"}, name
    before = {n: len(sim.exchange.plan_rows(n)) for n in "ABC"}
    assert all("in sync" in r["message"] for r in client.post("/api/tpsl").json["results"])
    assert {n: len(sim.exchange.plan_rows(n)) for n in "ABC"} == before


@pytest.mark.sim_variants("cancel_plan_profit_loss", "oversized_close", "one_way_close_ack")
def test_close_all_and_close_symbol(app, client, setup):
    sim = setup
    sim.exchange.open_position("Master", BTC, "long", "0.1")
    sim.exchange.open_position("Master", "ETHUSDT", "short", "2")
    client.post("/api/replicate")
    assert client.post("/api/close-symbol", json={"symbol": "ETHUSDT"}).status_code == 422  # needs confirm
    report = client.post("/api/close-symbol", json={"symbol": "ethusdt", "confirm": True}).json
    assert report["status"] == "ok", report
    assert all(("ETHUSDT", "short") not in held(sim, n) for n in ["Master", "A", "B", "C"])
    assert held(sim, "A") == {(BTC, "long"): Decimal("0.05")}
    assert client.post("/api/close-all", json={}).status_code == 422
    report = client.post("/api/close-all", json={"confirm": True}).json
    assert report["status"] == "ok" and len(report["results"]) == 4
    assert all(held(sim, n) == {} for n in ["Master", "A", "B", "C"])
    assert "nothing to close" in client.post("/api/close-all", json={"confirm": True}).json["results"][0]["message"]


def test_one_run_at_a_time(app, client, setup):
    service = app.extensions["replication"]
    with service.lock.hold("replicate", "test"):
        busy = client.post("/api/replicate")
        assert busy.status_code == 409
        assert busy.json["error"]["code"] == "already_running"
        assert "replicate" in busy.json["error"]["message"]
        assert client.post("/api/close-all", json={"confirm": True}).status_code == 409
    assert client.post("/api/replicate").status_code == 200


def test_failed_client_does_not_block_others(app, client, setup):
    sim = setup
    sim.exchange.update_account("C", balance="0")  # C cannot afford the order
    sim.exchange.open_position("Master", BTC, "long", "0.1")
    results = by_name(client.post("/api/replicate").json)
    assert results["C"]["status"] in ("failed", "skipped")
    assert results["A"]["status"] == results["B"]["status"] == "ok"


def test_preview_sends_nothing(app, client, setup):
    sim = setup
    sim.exchange.open_position("Master", BTC, "long", "0.1")
    preview = client.post("/api/replicate/preview").json
    ops = by_name(preview)["A"]["operations"]
    assert any(op["kind"] == "open" and op["size"] == "0.05" for op in ops)
    assert held(sim, "A") == {}


def test_auto_follow_replicates_without_a_click(app, client, setup):
    sim = setup
    poller = app.extensions["poller"]
    client.post("/api/auto-follow", json={"on": True})
    poller.tick()  # first look at the master
    sim.exchange.open_position("Master", BTC, "long", "0.1")
    changes = poller.tick()
    assert [c.kind for c in changes] == ["opened"]
    assert held(sim, "A") == {(BTC, "long"): Decimal("0.05")}
    runs = client.get("/api/runs").json["runs"]
    assert runs[0]["trigger"] == "poller"


@pytest.mark.sim_variants("oversized_close", "one_way_close_ack", "margin_mode_mismatch")
def test_one_way_master_flip_is_close_then_open(app, client, sim):
    sim.exchange.set_price(BTC, "80000")
    add_account(app, sim, "Master", role="master", balance="10000", pos_mode="one_way_mode")
    add_account(app, sim, "H", balance="5000")
    add_account(app, sim, "O", balance="5000", pos_mode="one_way_mode")
    sim.exchange.open_position("Master", BTC, "long", "0.1")
    client.post("/api/replicate")
    sim.exchange.open_position("Master", BTC, "short", "0.3")  # one-way: sells 0.3, flips to short 0.2
    assert held(sim, "Master") == {(BTC, "short"): Decimal("0.2")}
    report = client.post("/api/replicate").json
    assert report["status"] == "ok", report
    # the new short gets a fresh factor (current equities: the master paid fees), so allow one size step
    for name in "HO":
        (key, size), = held(sim, name).items()
        assert key == (BTC, "short") and abs(size - Decimal("0.1")) <= Decimal("0.0001"), (name, size)
    assert any(r["kind"] == "close" for r in by_name(report)["O"]["orders"])


@pytest.mark.sim_variants("one_way_close_ack", "oversized_close")
def test_a_one_way_copy_closes_in_full_past_the_clients_own_resting_reduce_only_order(app, client, sim):
    """The client rests a reduce-only limit close by hand; the copier's full close makes Bitget cancel it (9.1), the
    answer may lack orderId, and the copier still records the order it placed (looked up by clientOid)."""
    sim.exchange.set_price(BTC, "80000")
    add_account(app, sim, "Master", role="master", balance="10000")
    add_account(app, sim, "O", balance="5000", pos_mode="one_way_mode")
    sim.exchange.open_position("Master", BTC, "long", "0.1")
    client.post("/api/replicate")
    assert held(sim, "O") == {(BTC, "long"): Decimal("0.05")}
    acc = sim.exchange.account("O")
    from app.sim.trading import OrderRequest

    sim.exchange.place_order(acc, OrderRequest(symbol=BTC, size=Decimal("0.04"), side="sell", order_type="limit",
                                               margin_mode="crossed", price=Decimal("90000"), reduce_only=True))
    sim.exchange.close_position("Master", BTC, "long")
    report = client.post("/api/replicate").json
    assert report["status"] == "ok", report
    assert held(sim, "O") == {} and acc.live_orders == {}
    (close,) = [o for o in by_name(report)["O"]["orders"] if o["kind"] == "close"]
    assert close["order_id"] and close["order_id"] in acc.orders
