"""Property: for random master/client states, a replicate on the simulator reaches every target and a second
replicate sends nothing."""
from __future__ import annotations

import itertools
from decimal import ROUND_DOWN, Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.accounts import service
from app.store.extensions import db
from app.store.models import Account, PositionLink
from tests.conftest import sim_account

SYMBOLS = {"BTCUSDT": (Decimal("0.0001"), "80000"), "ETHUSDT": (Decimal("0.01"), "2000"),
           "SOLUSDT": (Decimal("0.1"), "140")}
counter = itertools.count()

master_positions = st.dictionaries(
    keys=st.tuples(st.sampled_from(sorted(SYMBOLS)), st.sampled_from(["long", "short"])),
    values=st.integers(min_value=1, max_value=400),  # size in steps x 10
    min_size=1, max_size=4,
)
clients = st.lists(st.tuples(st.sampled_from(["hedge_mode", "one_way_mode"]),
                             st.sampled_from(["5000", "25000", "70000", "200000"])), min_size=1, max_size=3)


def reset(app) -> None:
    with app.app_context():
        for account in db.session.query(Account).all():
            service.delete_account(account.id)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(positions=master_positions, client_specs=clients)
def test_replicate_reaches_targets_and_is_idempotent(app, client, sim, positions, client_specs):
    reset(app)
    run = next(counter)
    for symbol, (_, price) in SYMBOLS.items():
        sim.exchange.set_price(symbol, price)
    master = f"M{run}"
    creds = sim_account(sim, master, "100000", "hedge_mode")
    with app.app_context():
        service.create_account({"role": "master", "name": master, **{k: creds[k] for k in ("api_key", "api_secret", "passphrase")}})
    names = []
    for index, (mode, equity) in enumerate(client_specs):
        name = f"C{run}x{index}"
        creds = sim_account(sim, name, equity, mode)
        with app.app_context():
            service.create_account({"role": "client", "name": name, "slippage_pct": "",
                                    **{k: creds[k] for k in ("api_key", "api_secret", "passphrase")}})
        names.append(name)
    for (symbol, side), steps in positions.items():
        step = SYMBOLS[symbol][0]
        sim.exchange.open_position(master, symbol, side, str(step * steps * 10))

    first = client.post("/api/replicate").json
    assert all(r["status"] != "failed" for r in first["results"]), first
    master_held = {k: p.size for k, p in sim.exchange.account(master).positions.items()}
    with app.app_context():
        links = {(row.account.name, row.symbol, row.hold_side): row.factor for row in db.session.query(PositionLink).all()}
    for name in names:
        for key, pos in sim.exchange.account(name).positions.items():
            size = pos.size
            factor = links[(name, *key)]  # every client position was opened by the copier, so it is linked
            step = SYMBOLS[key[0]][0]
            target = (master_held[key] * factor / step).to_integral_value(ROUND_DOWN) * step
            assert size <= target and target - size < step, (name, key, size, target)
    fills_before = len(sim.exchange.order_log_rows())
    second = client.post("/api/replicate").json
    assert all(r["status"] != "failed" for r in second["results"]), second
    assert len(sim.exchange.order_log_rows()) == fills_before, (first["results"], second["results"])
