"""Follower settings end to end on the simulator over real HTTP (issue 16)."""
from __future__ import annotations

from decimal import Decimal

import pytest

from app.bitget.client import BitgetClient
from tests.conftest import add_account
from tests.replication.test_service_sim import BTC, by_name, fills, held

ETH = "ETHUSDT"
D = Decimal


@pytest.fixture
def master(app, sim):
    """A master with 10000 USDT; BTC at 80000, ETH at 2000."""
    sim.exchange.set_price(BTC, "80000")
    sim.exchange.set_price(ETH, "2000")
    return add_account(app, sim, "Master", role="master", balance="10000")


@pytest.fixture
def setting_calls(monkeypatch):
    """Every margin-mode and leverage call the copier sends: (kind, symbol, value)."""
    calls: list[tuple[str, str, object]] = []
    set_margin_mode, set_leverage = BitgetClient.set_margin_mode, BitgetClient.set_leverage

    def spy_margin(self, symbol, margin_mode, *args, **kwargs):
        calls.append(("margin_mode", symbol, margin_mode))
        return set_margin_mode(self, symbol, margin_mode, *args, **kwargs)

    def spy_leverage(self, symbol, leverage, *args, **kwargs):
        calls.append(("leverage", symbol, leverage))
        return set_leverage(self, symbol, leverage, *args, **kwargs)

    monkeypatch.setattr(BitgetClient, "set_margin_mode", spy_margin)
    monkeypatch.setattr(BitgetClient, "set_leverage", spy_leverage)
    return calls


def plans(sim, name: str) -> dict[str, str]:
    """The TP/SL plans of an account: planType -> trigger price."""
    return {p["planType"]: p["triggerPrice"] for p in sim.exchange.plan_rows(name)}


def test_fixed_leverage_and_isolated_margin_are_set_only_when_they_differ(app, client, sim, master, setting_calls):
    add_account(app, sim, "A", balance="5000", leverage_mode="fixed", fixed_leverage=3, margin_mode="isolated")
    sim.exchange.open_position("Master", BTC, "long", "0.1", leverage=20, margin_mode="crossed")
    result = by_name(client.post("/api/replicate").json)["A"]
    assert result["status"] == "ok", result
    position = sim.exchange.account("A").positions[(BTC, "long")]
    assert (position.leverage, position.margin_mode, position.size) == (3, "isolated", D("0.05"))
    assert ("margin_mode", BTC, "isolated") in setting_calls and ("leverage", BTC, 3) in setting_calls
    # the master's other side on the same symbol: isolated and 3x are already what A has there (per side in hedge
    # isolated, so only the short's leverage is set), and no margin mode call is made
    setting_calls.clear()
    sim.exchange.open_position("Master", BTC, "short", "0.1", leverage=20, margin_mode="crossed")
    client.post("/api/replicate")
    short = sim.exchange.account("A").positions[(BTC, "short")]
    assert (short.leverage, short.margin_mode) == (3, "isolated")
    assert [c for c in setting_calls if c[0] == "margin_mode"] == []
    # a second run sends nothing at all
    setting_calls.clear()
    before = fills(sim, "A")
    assert "in sync" in by_name(client.post("/api/replicate").json)["A"]["message"]
    assert setting_calls == [] and fills(sim, "A") == before


def test_fixed_leverage_is_capped_by_max_leverage(app, client, sim, master):
    add_account(app, sim, "A", balance="5000", leverage_mode="fixed", fixed_leverage=50, max_leverage=7)
    sim.exchange.open_position("Master", BTC, "long", "0.1", leverage=10)
    client.post("/api/replicate")
    assert sim.exchange.account("A").positions[(BTC, "long")].leverage == 7


def test_own_tpsl_is_placed_after_the_open_replaced_after_an_increase_and_ignores_the_master(app, client, sim,
                                                                                            master):
    add_account(app, sim, "A", balance="5000", tpsl_mode="own", tp_pct="5", sl_pct="2")
    sim.exchange.open_position("Master", BTC, "long", "0.1")
    sim.exchange.set_tpsl("Master", BTC, "long", tp="90000", sl="75000")
    assert by_name(client.post("/api/replicate").json)["A"]["status"] == "ok"
    assert plans(sim, "A") == {"pos_profit": "84000", "pos_loss": "78400"}  # 80000 x 1.05 / x 0.98
    # the master moves its own: the client's stay
    sim.exchange.set_tpsl("Master", BTC, "long", tp="95000", sl="70000")
    report = client.post("/api/tpsl").json
    assert plans(sim, "A") == {"pos_profit": "84000", "pos_loss": "78400"}
    assert by_name(report)["A"]["message"] == "in sync: nothing to do"
    # the master doubles at 80200: the copy doubles and its plans move to its new average entry (80100)
    sim.exchange.set_price(BTC, "80200")
    sim.exchange.open_position("Master", BTC, "long", "0.1")
    client.post("/api/replicate")
    position = sim.exchange.account("A").positions[(BTC, "long")]
    assert position.size == D("0.1") and position.entry == D("80100")
    assert plans(sim, "A") == {"pos_profit": "84105", "pos_loss": "78498"}
    # idempotent: nothing is sent again
    before = (fills(sim, "A"), plans(sim, "A"))
    assert "in sync" in by_name(client.post("/api/replicate").json)["A"]["message"]
    assert (fills(sim, "A"), plans(sim, "A")) == before


def test_tpsl_none_places_and_changes_nothing(app, client, sim, master):
    add_account(app, sim, "A", balance="5000", tpsl_mode="none")
    sim.exchange.open_position("Master", BTC, "long", "0.1")
    sim.exchange.set_tpsl("Master", BTC, "long", tp="90000", sl="75000")
    client.post("/api/replicate")
    assert held(sim, "A") == {(BTC, "long"): D("0.05")}
    assert plans(sim, "A") == {}
    sim.exchange.set_tpsl("A", BTC, "long", sl="70000")  # the client's own stop, set by hand
    sim.exchange.set_tpsl("Master", BTC, "long", tp="95000", sl="")
    assert by_name(client.post("/api/tpsl").json)["A"]["message"] == "in sync: nothing to do"
    assert plans(sim, "A") == {"pos_loss": "70000"}


def test_an_open_copy_keeps_its_settings_when_they_change(app, client, sim, master):
    account_id = add_account(app, sim, "A", balance="5000")
    sim.exchange.open_position("Master", BTC, "long", "0.1", leverage=10)
    sim.exchange.set_tpsl("Master", BTC, "long", tp="90000")
    client.post("/api/replicate")
    assert plans(sim, "A") == {"pos_profit": "90000"}
    changed = client.patch(f"/api/accounts/{account_id}", json={
        "tpsl_mode": "own", "tp_pct": "5", "sl_pct": None, "leverage_mode": "fixed", "fixed_leverage": 2,
        "sizing_mode": "multiplier", "sizing_value": "1"})
    assert changed.status_code == 200, changed.json
    # the open BTC copy still follows the master's TP, its size factor and leverage are unchanged
    sim.exchange.set_tpsl("Master", BTC, "long", tp="92000")
    sim.exchange.open_position("Master", BTC, "long", "0.1", leverage=10)
    client.post("/api/replicate")
    btc = sim.exchange.account("A").positions[(BTC, "long")]
    assert (btc.size, btc.leverage) == (D("0.1"), 10)  # 0.5 x 0.2, not 1 x 0.2
    assert plans(sim, "A") == {"pos_profit": "92000"}
    # the next copy opened uses the new settings
    sim.exchange.open_position("Master", ETH, "long", "1", leverage=10)
    client.post("/api/replicate")
    eth = sim.exchange.account("A").positions[(ETH, "long")]
    assert (eth.size, eth.leverage) == (D("1"), 2)
    eth_plans = {p["planType"]: p["triggerPrice"] for p in sim.exchange.plan_rows("A") if p["symbol"] == ETH}
    assert eth_plans == {"pos_profit": "2100"}


def test_fixed_quantity_copies_the_set_size_proportionally_and_skips_other_symbols(app, client, sim, master):
    add_account(app, sim, "A", balance="5000", sizing_mode="fixed_quantity", fixed_quantities="BTCUSDT=0.01")
    sim.exchange.open_position("Master", BTC, "long", "0.03")
    sim.exchange.open_position("Master", ETH, "short", "2")
    result = by_name(client.post("/api/replicate").json)["A"]
    assert held(sim, "A") == {(BTC, "long"): D("0.01")}
    assert "ETHUSDT short: ETHUSDT has no fixed quantity in this client's settings: not copied" in result["message"]
    sim.exchange.open_position("Master", BTC, "long", "0.03")  # the master doubles
    client.post("/api/replicate")
    assert held(sim, "A") == {(BTC, "long"): D("0.02")}
    sim.exchange.close_position("Master", BTC, "long", "0.03")  # and halves
    client.post("/api/replicate")
    assert held(sim, "A") == {(BTC, "long"): D("0.01")}


def test_fixed_notional_sizes_by_the_mark(app, client, sim, master):
    add_account(app, sim, "A", balance="5000", sizing_mode="fixed_notional", sizing_value="850")
    sim.exchange.open_position("Master", BTC, "long", "0.5")
    client.post("/api/replicate")
    assert held(sim, "A") == {(BTC, "long"): D("0.0106")}  # 850 / 80000 = 0.010625, floored to the step


def test_max_margin_cuts_the_copy_and_says_so(app, client, sim, master):
    add_account(app, sim, "A", balance="5000", max_margin="100")
    sim.exchange.open_position("Master", BTC, "long", "0.1", leverage=10)  # target 0.05 = 400 USDT of margin
    result = by_name(client.post("/api/replicate").json)["A"]
    assert held(sim, "A") == {(BTC, "long"): D("0.0125")}  # 100 x 10 / 80000
    assert "cut to 0.0125 by max margin 100 USDT per position at 10x" in result["message"]
    position = sim.exchange.account("A").positions[(BTC, "long")]
    assert position.size * D("80000") / position.leverage <= D("100")
    before = fills(sim, "A")
    client.post("/api/replicate")
    assert fills(sim, "A") == before  # the cut copy is in sync, not topped up every run


def test_preview_names_the_setting_behind_every_size_leverage_margin_mode_and_tpsl(app, client, sim, master):
    add_account(app, sim, "A", balance="5000", sizing_mode="fixed_notional", sizing_value="800",
                leverage_mode="fixed", fixed_leverage=4, margin_mode="isolated", tpsl_mode="own", sl_pct="2")
    add_account(app, sim, "B", balance="5000", sizing_mode="fixed_quantity", fixed_quantities={"ETHUSDT": "1"})
    sim.exchange.open_position("Master", BTC, "long", "0.1", leverage=20)
    report = client.post("/api/replicate/preview").json
    a, b = by_name(report)["A"], by_name(report)["B"]
    settings = {op["kind"]: op["setting"] for op in a["operations"]}
    assert settings["open"].startswith("sizing fixed notional: 800 USDT at mark 80000")
    assert "leverage 4x: the client's fixed 4x" in settings["open"]
    assert settings["set_margin_mode"] == "margin mode isolated: the client's margin mode setting"
    assert settings["place_tpsl"].startswith("TP/SL own: stop-loss 2%")
    assert a["settings"] == {"sizing": "fixed notional 800 USDT", "leverage": "fixed 4x", "margin_mode": "isolated",
                             "tpsl": "own: SL 2% of the client's average entry", "caps": "none"}
    assert b["status"] == "skipped" and "BTCUSDT has no fixed quantity" in b["message"]
    assert held(sim, "A") == {} and held(sim, "B") == {}  # a preview sends nothing
