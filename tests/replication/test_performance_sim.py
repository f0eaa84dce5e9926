"""Per-client PnL and return next to the master's, against the simulator over real HTTP.

The background refresh counts every account's fills (one read, shared with loss protection); the dashboard's
state only computes from what it stored: a page view sends nothing to the exchange.
"""
from __future__ import annotations

from decimal import Decimal as D

from app.feeds.refresh import refresh_accounts, track_master
from tests.conftest import add_account
from tests.replication.test_loss_protection_sim import FILLS, move_balance, requests_to
from tests.replication.test_service_sim import BTC, held


def realized_of(sim, name: str) -> D:
    """What the account's fills did to its balance on the simulator: profit plus fees."""
    return sum((D(r["profit"]) + sum(D(f["totalFee"]) for f in r["feeDetail"]) for r in sim.exchange.fill_rows(name)),
               start=D(0))


def pct(amount: D, base: str) -> str:
    return format((amount / D(base) * 100).quantize(D("0.01")), "f")


def test_each_client_shows_realized_pnl_return_and_the_gap_to_the_master(app, client, sim):
    sim.exchange.set_price(BTC, "80000")
    add_account(app, sim, "Master", role="master", balance="10000")
    add_account(app, sim, "A", balance="5000")
    refresh_accounts(app)  # tracking starts: today's window opens at these equities
    sim.exchange.open_position("Master", BTC, "long", "0.1", leverage=10)
    client.post("/api/replicate")
    assert held(sim, "A") == {(BTC, "long"): D("0.05")}
    sim.exchange.set_price(BTC, "81000")
    sim.exchange.close_position("Master", BTC, "long")
    client.post("/api/replicate")
    assert held(sim, "A") == {}
    move_balance(sim, "A", "1000")  # a deposit: not PnL, it must not move the return
    refresh_accounts(app)

    sim.stats.reset()
    state = client.get("/api/state").json
    for _ in range(3):
        client.get("/api/state")
        client.get("/")
    by_path = sim.stats.snapshot({})["by_path"]
    assert not {p for p in by_path if "/market/" not in p}, by_path  # page views read no account

    row = next(c for c in state["clients"] if c["name"] == "A")
    realized_a, realized_m = realized_of(sim, "A"), realized_of(sim, "Master")
    assert realized_a < 50 and realized_a > 40  # +50 on the trade less two taker fees
    for window in ("today", "7d", "all"):
        mine = row["pnl"][window]
        assert D(mine["realized"]) == realized_a and D(mine["pnl"]) == realized_a
        assert mine["base_equity"] == "5000.00"
        assert mine["return_pct"] == pct(realized_a, "5000")
        assert mine["master_return_pct"] == pct(realized_m, "10000")
        assert D(mine["tracking_error_pp"]) == D(mine["return_pct"]) - D(mine["master_return_pct"])
        master = state["master"]["pnl"][window]
        assert D(master["realized"]) == realized_m and master["return_pct"] == pct(realized_m, "10000")
    totals = state["totals"]["pnl"]["today"]
    assert D(totals["realized"]) == realized_a and totals["return_pct"] == pct(realized_a, "5000")


def test_every_clients_fills_are_read_once_per_refresh_and_the_masters_by_the_pacer(app, sim):
    sim.exchange.set_price(BTC, "80000")
    master_id = add_account(app, sim, "Master", role="master")
    plain = add_account(app, sim, "P")  # no loss limit: its fills are read for performance
    limited = add_account(app, sim, "L", daily_loss_limit="100")  # loss protection shares that read
    refresh_accounts(app)
    sim.stats.reset()
    refresh_accounts(app, [plain])
    assert requests_to(sim, FILLS) == 1
    sim.stats.reset()
    refresh_accounts(app, [limited])
    assert requests_to(sim, FILLS) == 1
    sim.stats.reset()
    assert track_master(app) and requests_to(sim, FILLS) == 1
    assert app.extensions["state"].get(master_id).equity is not None
