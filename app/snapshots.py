"""Equity snapshots from the state cache, for the dashboard's charts."""
from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import Flask

from .extensions import db
from .models import Account, Snapshot, utcnow


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
    """Per-account series and the total of master and of clients over time, oldest first."""
    since = utcnow() - timedelta(hours=hours)
    rows = (db.session.query(Snapshot, Account.role).join(Account, Account.id == Snapshot.account_id)
            .filter(Snapshot.taken_at >= since).order_by(Snapshot.taken_at).all())
    per_account: dict[int, list[list[Any]]] = {}
    totals: dict[str, dict[str, Any]] = {}
    for snap, role in rows:
        stamp = snap.taken_at.replace(microsecond=0).isoformat()
        per_account.setdefault(snap.account_id, []).append([stamp, format(snap.equity, "f")])
        bucket = totals.setdefault(stamp, {"t": stamp, "master": 0, "clients": 0})
        key = "master" if role == "master" else "clients"
        bucket[key] = snap.equity + bucket[key]
    series = [{"t": b["t"], "master": format(b["master"], "f"), "clients": format(b["clients"], "f")}
              for b in totals.values()]
    return {"total": series, "accounts": {str(k): v for k, v in per_account.items()}}
