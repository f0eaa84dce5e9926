"""Faults on place-order (429, 5xx, executed-but-response-lost): 50 clients still end exactly on target.

The copier retries an order only when it carries a clientOid; when the response of an executed order is lost,
the retry is answered "duplicate clientOid" and resolved through order detail, so no order is ever doubled.
"""
from __future__ import annotations

from decimal import Decimal

import pytest

from tests.conftest import add_account

from .helpers import BTC, held, max_held

PLACE = "/api/v2/mix/order/place-order"
CLIENTS = 50
MASTER_SIZE = Decimal("0.1")


def multiplier(i: int) -> Decimal:
    return Decimal(i % 5 + 1) / 10  # 0.1 .. 0.5 -> targets 0.01 .. 0.05 BTC


@pytest.fixture
def fleet(app, sim):
    """A hedge master holding BTC long 0.1 and 50 clients (every fourth one-way) with fixed multipliers."""
    sim.exchange.set_price(BTC, "80000")
    add_account(app, sim, "Master", role="master", balance="100000")
    ids = {}
    for i in range(CLIENTS):
        mode = "one_way_mode" if i % 4 == 3 else "hedge_mode"
        ids[f"c{i:02d}"] = add_account(app, sim, f"c{i:02d}", balance="10000", pos_mode=mode,
                                       sizing_mode="multiplier", sizing_value=str(multiplier(i)))
    sim.exchange.open_position("Master", BTC, "long", str(MASTER_SIZE), leverage=10)
    targets = {f"c{i:02d}": MASTER_SIZE * multiplier(i) for i in range(CLIENTS)}
    return ids, targets


def test_fifty_clients_reach_exact_targets_through_429_5xx_and_lost_responses(app, client, sim, fleet):
    ids, targets = fleet
    sim.faults.configure({PLACE: {"p_429": "0.3", "p_5xx": "0.1", "p_lost": "0.1"}})
    sim.stats.reset()

    report = client.post("/api/replicate")
    assert report.status_code == 200, report.get_data(as_text=True)
    results = {r["account_name"]: r for r in report.json["results"]}
    assert set(results) == set(targets)
    failed = sorted(name for name, r in results.items() if r["status"] != "ok")
    for name in failed:  # at most one repeat, and only for the clients that reported a failure
        assert results[name]["message"], name  # a failure always says why
        again = client.post(f"/api/sync/{ids[name]}")
        assert again.status_code == 200, again.get_data(as_text=True)
        assert again.json["results"][0]["status"] == "ok", again.json

    statuses = sim.stats.snapshot({})["by_status"]
    assert int(statuses.get("429", 0)) > 0, statuses  # the faults really happened ...
    assert sum(int(statuses.get(s, 0)) for s in ("500", "502", "503")) > 0, statuses
    assert int(statuses.get("0", 0)) > 0, statuses  # ... including executed orders whose answer was lost

    sim.faults.configure(None)
    peaks = max_held(sim)
    for name, target in targets.items():
        assert held(sim, name) == {(BTC, "long"): target}, name
        assert peaks[(name, BTC, "long")] == target, f"{name} once held {peaks[(name, BTC, 'long')]} > {target}"
        assert (name, BTC, "short") not in peaks, name  # a one-way close never flipped a client short
        fills = sim.exchange.order_log_rows(account=name)
        assert sum(Decimal(f["size"]) for f in fills) == target, (name, fills)  # no doubled order
        assert len({f["clientOid"] for f in fills}) == len(fills), name

    # and the whole fleet is now in sync: one more replicate sends nothing
    before = len(sim.exchange.order_log_rows())
    final = client.post("/api/replicate").json
    assert {r["status"] for r in final["results"]} == {"ok"}
    assert all("in sync" in r["message"] for r in final["results"])
    assert len(sim.exchange.order_log_rows()) == before
