"""Equity snapshots from the state cache, for the dashboard's charts."""
from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

from flask import Flask

from ..store.extensions import db
from ..store.models import Account, Snapshot, utcnow


def take_snapshots(app: Flask) -> int:
    """Store one equity point per account whose cached equity is known."""
    with app.app_context():
        views = app.extensions["state"].all()
        ids = {a.id for a in db.session.query(Account.id).all()}
        now = utcnow()
        count = 0
        for account_id, view in views.items():
            if account_id in ids and view.equity is not None and view.error is None:
                db.session.add(Snapshot(account_id=account_id, taken_at=now, equity=view.equity))
                count += 1
        db.session.commit()
        return count


def equity_series(hours: int = 24) -> dict[str, Any]:
    """The chart's lines in % and each account's equity (sparklines), oldest first.

    Sums of equity jump whenever a client is added or removed, so the chart shows returns instead: the
    master's return since its first point of the window, and the clients' as one time-weighted index, the
    mean of the clients' step returns between consecutive snapshots, chained (a client counts from its second
    point on and stops counting when it is gone, so neither moves the line). `returns` has each account's own
    return since its first point of the window. A deposit or withdrawal still shows on that account's line.
    """
    since = utcnow() - timedelta(hours=hours)
    rows = (db.session.query(Snapshot, Account.role).join(Account, Account.id == Snapshot.account_id)
            .filter(Snapshot.taken_at >= since).order_by(Snapshot.taken_at).all())
    per_account: dict[int, list[list[Any]]] = {}
    by_stamp: dict[str, dict[int, Decimal]] = {}
    masters: set[int] = set()
    for snap, role in rows:
        stamp = snap.taken_at.replace(microsecond=0).isoformat()
        per_account.setdefault(snap.account_id, []).append([stamp, format(snap.equity, "f")])
        by_stamp.setdefault(stamp, {})[snap.account_id] = snap.equity
        if role == "master":
            masters.add(snap.account_id)
    firsts: dict[int, Decimal] = {}
    previous: dict[int, Decimal] = {}
    returns: dict[int, list[list[Any]]] = {}
    index, lines = Decimal(1), []
    for stamp, equities in by_stamp.items():
        steps = [equity / previous[a] - 1 for a, equity in equities.items()
                 if a not in masters and previous.get(a, 0) > 0]
        if steps:
            index *= 1 + sum(steps, start=Decimal(0)) / len(steps)
        master_pct = None
        for account_id, equity in equities.items():
            first = firsts.setdefault(account_id, equity)
            pct = _pct(equity / first - 1) if first > 0 else None
            returns.setdefault(account_id, []).append([stamp, pct])
            if account_id in masters:
                master_pct = pct
        previous = dict(equities)  # a client gone (or not read) at this point stops counting until it is back
        clients_present = any(a not in masters for a in equities)
        lines.append({"t": stamp, "master": master_pct, "clients": _pct(index - 1) if clients_present else None})
    return {"lines": lines, "unit": "%", "accounts": {str(k): v for k, v in per_account.items()},
            "returns": {str(k): v for k, v in returns.items()}}


def _pct(fraction: Decimal) -> str:
    return format((fraction * 100).quantize(Decimal("0.0001")), "f")
