"""Client refreshes paced within the background share of the request budget, spread evenly over time.

Each second a slice of the enabled clients is read, so every client is read once per refresh interval and
the requests come as a steady trickle rather than a burst. The interval is CLIENT_REFRESH_SECONDS while
there are few clients and stretches with their number, so background reads stay within their share of the
budget (BACKGROUND_BUDGET_SHARE) whatever the number of clients: 500 clients cost the same per minute as 50,
they are only read less often. Each refresh also reads the client's new fills (performance and loss
protection). The master's balance is not paced here (the poller reads it at its own interval); only its new
fills are counted here, once an interval.

On ENGINE=celery each shard worker paces its own clients within its own budget; the web process paces none.
"""
from __future__ import annotations

import threading
import time

from flask import Flask

from ..store.extensions import db
from ..store.models import Account

TICK_SECONDS = 1.0
# the pacer plans for this part of the background share; the rest absorbs fill measurement and the
# refresh after each action
PACE_HEADROOM = 0.75
REQUESTS_PER_REFRESH = 2  # all-position + the per-symbol account read
FILLS_PER_REFRESH = 1  # and the new fills (performance, and loss protection from the same read)


class RefreshPacer:
    """One tick a second refreshes the next slice of clients (round robin)."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.interval = float(app.config["CLIENT_REFRESH_SECONDS"])
        self.clients = 0
        self._cursor = 0
        self._carry = 0.0
        self._due: list[int] = []  # to be read before the round robin goes on (changed by an action)
        self._master_fills_at = 0.0  # when the master's fills were last counted
        self._lock = threading.Lock()

    def interval_for(self, clients: int, cost: float) -> float:
        """Seconds between two refreshes of one client, for this many clients at this cost each."""
        base = float(self.app.config["CLIENT_REFRESH_SECONDS"])
        budget = self.app.extensions["gateway"].budget
        if budget is None or clients == 0:
            return base
        per_second = budget.background_rate_per_second() * PACE_HEADROOM
        return max(base, clients * cost / per_second)

    def tick(self) -> list[int]:
        """Refresh this second's slice (and once an interval the master's fills); returns the ids refreshed."""
        from ..engine.cluster.shards import served_shard
        from .refresh import refresh_accounts, track_master

        batch = self._next_batch()
        if batch:
            refresh_accounts(self.app, batch, clients_only=True)
        if served_shard(self.app) is None and time.monotonic() - self._master_fills_at >= self.interval:
            self._master_fills_at = time.monotonic()
            track_master(self.app)
        return batch

    def _next_batch(self) -> list[int]:
        from ..engine.cluster.shards import clients_read_elsewhere, served_shard

        rows = []
        if not clients_read_elsewhere(self.app):  # the celery coordinator paces none: its shards do
            with self.app.app_context():
                query = db.session.query(Account.id, Account.bitget_uid).filter_by(role="client", enabled=True)
                if served_shard(self.app) is not None:  # a shard worker reads its own clients, from its address
                    query = query.filter(Account.shard == served_shard(self.app))
                rows = query.order_by(Account.id).all()
                db.session.remove()
        ids = [r[0] for r in rows]
        with self._lock:
            self.clients = len(ids)
            if not ids:
                return []
            # every client's fills are read (performance); the master's once an interval; an account whose
            # Bitget uid is not known yet costs one key-info read more, once
            unknown_uid = sum(1 for r in rows if not r[1])
            cost = REQUESTS_PER_REFRESH + FILLS_PER_REFRESH + (FILLS_PER_REFRESH + unknown_uid) / len(ids)
            self.interval = self.interval_for(len(ids), cost)
            self._carry += len(ids) * TICK_SECONDS / self.interval
            count = min(len(ids), int(self._carry))
            self._carry -= count
            known = set(ids)
            due = [i for i in dict.fromkeys(self._due) if i in known][:count]
            self._due = [i for i in self._due if i in known and i not in due]
            start = self._cursor % len(ids)
            rest = [i for i in ids[start:] + ids[:start] if i not in due][:count - len(due)]
            self._cursor = (start + len(rest)) % len(ids)
            return due + rest

    def prioritize(self, account_ids: list[int]) -> None:
        """Read these clients first, at the budget's pace (after an action changed them)."""
        with self._lock:
            self._due += [i for i in account_ids if i not in self._due]

    def status(self) -> dict[str, float | int | None]:
        """For the dashboard and /healthz (None in the celery coordinator: each shard paces its own clients)."""
        from ..engine.cluster.shards import clients_read_elsewhere

        if clients_read_elsewhere(self.app):
            return {"client_refresh_interval_s": None, "clients": 0}
        return {"client_refresh_interval_s": round(self.interval, 1), "clients": self.clients}
