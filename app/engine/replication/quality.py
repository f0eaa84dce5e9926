"""Measured quality per copy: fill price and slippage against the master's entry, filled in after a run."""
from __future__ import annotations

import json
import logging
from decimal import Decimal
from typing import Any

from flask import Flask

from ...bitget.budget import BACKGROUND, as_priority
from ...bitget.errors import BitgetError
from ...store.extensions import db
from ...store.models import Account, RunResult
from ...web.serialize import plain
from ..tasks import run_in_background

log = logging.getLogger(__name__)


def slippage_pct(kind: str, hold_side: str, fill: Decimal, master_entry: Decimal) -> Decimal | None:
    """Percent the copy's fill is worse (+) or better (-) than the master's entry; opens only."""
    if kind != "open" or not master_entry:
        return None
    move = (fill - master_entry) / master_entry * 100
    return (move if hold_side == "long" else -move).quantize(Decimal("0.001"))


def measure_run(app: Flask, run_id: int) -> int:
    """Look up each order's average fill price (accounts concurrently) and store fill price and slippage."""
    with app.app_context():
        gateway = app.extensions["gateway"]
        rows = (db.session.query(RunResult, Account).join(Account, Account.id == RunResult.account_id)
                .filter(RunResult.run_id == run_id).all())
        work = [(result.id, gateway.client_for(account), result.orders) for result, account in rows if result.orders]
    outcomes = app.extensions["replication"].background.map(
        as_priority(BACKGROUND, lambda item: sum(measure_order(item[1], order) for order in item[2])), work)
    with app.app_context():
        for (result_id, _, orders), outcome in zip(work, outcomes, strict=True):
            if outcome.value:
                db.session.get(RunResult, result_id).orders_json = json.dumps(orders)
        db.session.commit()
    return sum(o.value or 0 for o in outcomes)


def measure_order(client, order: dict[str, Any]) -> int:
    """Fill in one order record (1 when measured)."""
    if order.get("kind") not in ("open", "close") or not order.get("order_id") or "fill_price" in order:
        return 0
    try:
        detail = client.order_detail(order["symbol"], order_id=order["order_id"])
    except BitgetError as exc:
        log.info("could not read fill of order %s: %s", order["order_id"], exc)
        return 0
    if detail.price_avg is None:
        return 0
    order["fill_price"] = plain(detail.price_avg)
    entry = Decimal(order["master_entry"]) if order.get("master_entry") else None
    slip = slippage_pct(order["kind"], order["hold_side"], detail.price_avg, entry) if entry else None
    order["slippage_pct"] = plain(slip)
    return 1


def measure_soon(app: Flask, run_id: int, orders: int) -> bool:
    """Measure a run's fills in the background, off the replication's critical path, when the background
    share of the request budget has room for one read per order; else the run stays unmeasured (False)."""
    from ...feeds.refresh import background_room

    if not orders:
        return False
    if not background_room(app, orders):
        log.info("run %s: fill prices not measured, the request budget's background share is in use", run_id)
        return False
    run_in_background(app, f"measure-{run_id}", lambda: measure_run(app, run_id))
    return True
