"""Refreshing the state cache from the exchange: all accounts concurrently, each failure recorded."""
from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from decimal import Decimal

from flask import Flask

from ..bitget.budget import BACKGROUND, as_priority
from ..bitget.errors import AuthError, BitgetError
from ..engine.cluster.shards import clients_read_elsewhere
from ..engine.replication import performance
from ..engine.replication.loss import check_loss_limits
from ..engine.replication.pnl import FillReader
from ..engine.replication.state import SymbolSettings
from ..engine.tasks import run_in_background
from ..store.extensions import db
from ..store.models import Account
from .refresh_pacer import FILLS_PER_REFRESH, PACE_HEADROOM, REQUESTS_PER_REFRESH

log = logging.getLogger(__name__)
PROBE_SYMBOL = "BTCUSDT"  # the per-symbol account read also tells the position mode


def refresh_accounts(app: Flask, account_ids: Sequence[int] | None = None, *, clients_only: bool = False) -> int:
    """Read balance and positions of the given (default: all enabled) accounts; returns how many failed."""
    with app.app_context():
        query = db.session.query(Account).filter_by(enabled=True)
        if clients_only:
            query = query.filter_by(role="client")
        if account_ids is not None:
            query = query.filter(Account.id.in_(list(account_ids)))
        gateway = app.extensions["gateway"]
        accounts = query.all()
        if clients_read_elsewhere(app):  # ENGINE=celery: each client is read by its shard's worker
            app.extensions["replication"].cluster.refresh_later([a.id for a in accounts if a.role == "client"])
            accounts = [a for a in accounts if a.role != "client"]
        jobs = [(a.id, a.role, gateway.client_for(a)) for a in accounts]
        unknown_uid = {a.id for a in accounts if a.role == "client" and not a.bitget_uid}
    service = app.extensions["replication"]
    outcomes = service.background.map(as_priority(BACKGROUND, lambda job: refresh_one(app, *job)), jobs)
    learn_uids(app, [o.item for o in outcomes if o.item[0] in unknown_uid and o.error is None and o.value])
    return sum(1 for o in outcomes if o.error is not None or o.value is False)


def learn_uids(app: Flask, jobs: Sequence[tuple[int, str, object]]) -> None:
    """Read the Bitget uid behind each account's keys once (links record it), off the replication's path."""
    if not jobs:
        return
    outcomes = app.extensions["replication"].background.map(
        as_priority(BACKGROUND, lambda job: job[2].key_info().user_id), jobs)
    learnt = {o.item[0]: o.value for o in outcomes if o.error is None and o.value}
    if not learnt:
        return
    with app.app_context():
        for account in db.session.query(Account).filter(Account.id.in_(list(learnt))).all():
            account.bitget_uid = account.bitget_uid or learnt[account.id]
        db.session.commit()


def refresh_one(app: Flask, account_id: int, role: str, client) -> bool:
    """Refresh one account's cached view; False (and the reason cached) when the exchange refused.

    The view is stamped with the time the reads were sent: a read that left before a run's orders filled
    must not look newer than that run.
    """
    cache = app.extensions["state"]
    try:
        sent_at = time.time()
        positions = tuple(client.positions())
        reader = FillReader(client)  # one read of the new fills, shared by loss protection and performance
        if role == "master":
            balance = client.usdt_account()
            cache.record_success(account_id, read_at=sent_at, positions=positions, equity=balance.equity, available=balance.available,
                                 unrealized_pl=balance.unrealized_pl, margin_used=balance.margin_used)
            performance.track(app, account_id, reader, balance.equity, positions)
        else:
            info = client.account(PROBE_SYMBOL)
            margin_used = sum((p.margin_size for p in positions), start=Decimal(0))
            cache.record_success(account_id, read_at=sent_at, positions=positions, equity=info.equity, available=info.available,
                                 unrealized_pl=info.unrealized_pl, margin_used=margin_used, pos_mode=info.pos_mode)
            cache.learn_settings(account_id, PROBE_SYMBOL, SymbolSettings.read_from(info))
            check_loss_limits(app, account_id, client, info.equity, positions, reader)
            performance.track(app, account_id, reader, info.equity, positions)
        return True
    except BitgetError as exc:
        cache.record_error(account_id, str(exc), auth=isinstance(exc, AuthError))
        return False


def track_master(app: Flask) -> bool:
    """Count the master's new fills for its performance (one request): the poller keeps its balance and
    positions in the cache but reads no fills. Run by the paced refresh once per client refresh interval."""
    with app.app_context():
        master = db.session.query(Account).filter_by(role="master", enabled=True).one_or_none()
        if master is None:
            return False
        job = (master.id, app.extensions["gateway"].client_for(master))
    view = app.extensions["state"].get(job[0])
    if view is None or view.equity is None or view.error is not None:
        return False
    outcome = app.extensions["replication"].background.map(as_priority(BACKGROUND, lambda item: performance.track(
        app, item[0], FillReader(item[1]), view.equity, view.positions)), [job])[0]
    return outcome.error is None and outcome.value is not None


def refresh_soon(app: Flask, account_ids: Sequence[int]) -> None:
    """Refresh some accounts in the background (after an action changed them).

    When the background share of the request budget cannot take them now, they go to the front of the
    paced refresh instead: many followers are then re-read at the pace the budget allows, never in a burst.
    """
    ids = list(account_ids)
    if ids and clients_read_elsewhere(app):  # the clients' refresh goes to their shards' workers
        clients = app.extensions["replication"].cluster.refresh_later(ids)
        ids = [i for i in ids if i not in clients]
    if not ids:
        return
    if not background_room(app, (REQUESTS_PER_REFRESH + FILLS_PER_REFRESH) * len(ids)):
        app.extensions["refresh_pacer"].prioritize(ids)
        return
    run_in_background(app, "refresh-soon", lambda: refresh_accounts(app, ids))


def background_room(app: Flask, requests: int) -> bool:
    """True when background work of this many requests fits in the budget's background share now."""
    budget = app.extensions["gateway"].budget
    if budget is None:
        return True
    snap = budget.snapshot()
    return snap.by_class.get(BACKGROUND, 0) + requests <= snap.background_cap * PACE_HEADROOM
