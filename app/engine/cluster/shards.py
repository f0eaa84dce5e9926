"""Which shard each client belongs to: stored on the account, assigned to the least loaded shard once,
moved only by a deliberate rebalance (so one account's operations stay in one worker, in order)."""
from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from flask import Flask

from ...store.extensions import db
from ...store.models import Account


def served_shard(app: Flask) -> int | None:
    """The shard this process serves: set on a shard worker, None in the web process and on ENGINE=local."""
    shard = app.config.get("WORKER_SHARD")
    return None if shard is None else int(shard)


def clients_read_elsewhere(app: Flask) -> bool:
    """True in the coordinator of ENGINE=celery: its clients are read by their shards' workers, each from its
    own address and budget, never from here."""
    return app.config.get("ENGINE", "local") == "celery" and served_shard(app) is None


def shard_count(app: Flask) -> int:
    """CLUSTER_SHARDS (at least 1)."""
    return max(1, int(app.config.get("CLUSTER_SHARDS", 2)))


def assign_missing(app: Flask) -> int:
    """Give every client without a shard (or with one beyond CLUSTER_SHARDS) the least loaded shard."""
    count = shard_count(app)
    unplaced = db.session.query(Account.id).filter(
        Account.role == "client", db.or_(Account.shard.is_(None), Account.shard < 0, Account.shard >= count))
    if unplaced.first() is None:  # the usual case (every dashboard poll asks): one read, no write
        return 0
    clients = db.session.query(Account).filter_by(role="client").order_by(Account.id).all()
    load = Counter(a.shard for a in clients if a.shard is not None and 0 <= a.shard < count)
    moved = 0
    for account in clients:
        if account.shard is None or not 0 <= account.shard < count:
            shard = min(range(count), key=lambda k: (load[k], k))
            account.shard = shard
            load[shard] += 1
            moved += 1
    if moved:
        db.session.commit()
    return moved


def rebalance(app: Flask) -> dict[int, int]:
    """Even out the shards (run it with no replication running, e.g. after adding shards); returns the load."""
    count = shard_count(app)
    clients = db.session.query(Account).filter_by(role="client").order_by(Account.id).all()
    for i, account in enumerate(clients):
        account.shard = i % count
    db.session.commit()
    return dict(Counter(a.shard for a in clients))


def shard_groups(app: Flask, account_ids: Sequence[int] | None) -> dict[int, list[tuple[int, str]]]:
    """The enabled clients to reconcile, by shard: {shard: [(id, name)]}."""
    assign_missing(app)
    query = db.session.query(Account.id, Account.name, Account.shard).filter_by(role="client", enabled=True)
    if account_ids is not None:
        query = query.filter(Account.id.in_(list(account_ids)))
    groups: dict[int, list[tuple[int, str]]] = {}
    for account_id, name, shard in query.order_by(Account.id).all():
        groups.setdefault(int(shard or 0), []).append((account_id, name))
    return groups
