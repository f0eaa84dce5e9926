"""The coordinator's side of ENGINE=celery: publish one task per shard, wait for every shard or the deadline,
and the shards' heartbeats for the dashboard."""
from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from typing import Any

from celery.exceptions import TimeoutError as CeleryTimeout
from flask import Flask

from ..replication.recording import AccountOutcome
from ..replication.state import MasterState
from .celery_app import TASK_CLOSE_SHARD, TASK_REFRESH_SHARD, TASK_SYNC_SHARD, make_celery, queue_of
from .shards import shard_count, shard_groups
from .wire import master_to_wire, outcome_from_wire

log = logging.getLogger(__name__)
HEARTBEAT_KEY = "copier:shard:{}"
HEARTBEAT_SECONDS = 5.0
HEARTBEAT_TTL_SECONDS = 30
REFRESH_EXPIRES_SECONDS = 60  # a refresh request not taken by then is dropped: the paced refresh goes on


class ClusterEngine:
    """Fans a run out to the shard workers through Celery."""

    def __init__(self, app: Flask) -> None:
        import redis

        self.app = app
        self.celery = make_celery(app)
        self.redis = redis.Redis.from_url(app.config["REDIS_URL"], socket_timeout=5)

    def fan_out(self, account_ids: Sequence[int] | None, master: MasterState, run_uid: str, *, positions: bool,
                tpsl: bool, preview: bool, detected_at: float | None) -> list[AccountOutcome]:
        """Every shard's outcomes; a shard that does not answer in CLUSTER_DEADLINE_SECONDS fails by name."""
        wire_master = master_to_wire(master)
        return self._scatter(TASK_SYNC_SHARD, run_uid, shard_groups(self.app, account_ids), lambda shard, ids: {
            "shard": shard, "run_uid": run_uid, "master": wire_master, "account_ids": ids, "positions": positions,
            "tpsl": tpsl, "preview": preview, "detected_at": detected_at})

    def close_out(self, account_ids: Sequence[int], symbol: str | None, run_uid: str) -> list[AccountOutcome]:
        """Close-all / close-symbol on these clients, each shard sweeping its own from its own address."""
        from ...store.extensions import db

        with self.app.app_context():
            try:
                groups = shard_groups(self.app, account_ids)
            finally:
                db.session.remove()
        return self._scatter(TASK_CLOSE_SHARD, run_uid, groups, lambda shard, ids: {
            "shard": shard, "run_uid": run_uid, "symbol": symbol, "account_ids": ids})

    def refresh_later(self, account_ids: Sequence[int]) -> set[int]:
        """Ask each shard's worker to re-read the enabled clients among these soon (its own address and
        budget); no waiting. Returns the clients' ids (the others, the master, are not a shard's); when the
        broker is down that is logged, and the shards' paced refresh reads them in turn."""
        if not account_ids:
            return set()
        from ...store.extensions import db

        with self.app.app_context():
            groups = shard_groups(self.app, account_ids)
            db.session.remove()
        for shard, accounts in sorted(groups.items()):
            try:
                self.celery.send_task(TASK_REFRESH_SHARD, args=[{"shard": shard, "account_ids": [a for a, _ in accounts]}],
                                      queue=queue_of(shard), expires=REFRESH_EXPIRES_SECONDS)
            except Exception as exc:
                log.warning("could not ask shard %d to refresh %d clients: %s", shard, len(accounts), exc)
        return {account_id for accounts in groups.values() for account_id, _ in accounts}

    def _scatter(self, task: str, run_uid: str, groups: dict[int, list[tuple[int, str]]],
                 payload_of) -> list[AccountOutcome]:
        """Publish one task per shard, gather the answers until the deadline; silent shards fail by name."""
        deadline_s = float(self.app.config.get("CLUSTER_DEADLINE_SECONDS", 60))
        sent = {}
        for shard, accounts in sorted(groups.items()):
            sent[shard] = self.celery.send_task(task, args=[payload_of(shard, [a for a, _ in accounts])],
                                                queue=queue_of(shard), task_id=f"{run_uid}-{task}-shard{shard}",
                                                expires=deadline_s)
        end = time.monotonic() + deadline_s
        results: list[AccountOutcome] = []
        for shard, pending in sent.items():
            accounts = groups[shard]
            try:
                answer = pending.get(timeout=max(0.1, end - time.monotonic()), interval=0.01, propagate=True,
                                     disable_sync_subtasks=False)
            except CeleryTimeout:
                results += self._missing(shard, accounts, f"shard {shard} did not answer within {deadline_s:g} s "
                                                          f"(is its worker running?)")
                pending.revoke()
                continue
            except Exception as exc:  # the task raised on the worker
                results += self._missing(shard, accounts, f"shard {shard} failed: {type(exc).__name__}: {exc}")
                continue
            results += [outcome_from_wire(o) for o in answer["results"]]
        return results

    @staticmethod
    def _missing(shard: int, accounts: list[tuple[int, str]], message: str) -> list[AccountOutcome]:
        log.warning("%s (%d accounts)", message, len(accounts))
        return [AccountOutcome(account_id, name, "failed", f"{message}: not known whether anything was sent",
                               acted=True) for account_id, name in accounts]

    def shards(self) -> list[dict[str, Any]]:
        """Each shard's last heartbeat: alive, when, clients, budget used (read from Redis)."""
        from ...store.extensions import db
        from ...store.models import Account
        from .shards import assign_missing

        assign_missing(self.app)  # a client added since the last run is counted where it will run
        counts = dict(db.session.query(Account.shard, db.func.count(Account.id)).filter_by(role="client")
                      .group_by(Account.shard).all())
        rows = []
        now = time.time()
        for shard in range(shard_count(self.app)):
            try:
                raw = self.redis.get(HEARTBEAT_KEY.format(shard))
            except Exception as exc:  # Redis down: say so, never crash a page
                raw, error = None, f"Redis: {exc}"
            else:
                error = None
            beat = json.loads(raw) if raw else {}
            age = now - float(beat["at"]) if beat.get("at") else None
            rows.append({"shard": shard, "alive": age is not None and age < HEARTBEAT_TTL_SECONDS / 2,
                         "last_heartbeat_age_s": round(age, 1) if age is not None else None,
                         "worker": beat.get("worker"), "egress": beat.get("egress"),
                         "clients": int(counts.get(shard, 0)), "budget": beat.get("budget"),
                         "client_refresh_interval_s": (beat.get("refresh") or {}).get("client_refresh_interval_s"),
                         "error": error})
        return rows


def beat_forever(app: Flask, shard: int, stop) -> None:
    """The worker's heartbeat: every HEARTBEAT_SECONDS write who it is, its egress and its budget to Redis."""
    import os
    import socket

    import redis

    client = redis.Redis.from_url(app.config["REDIS_URL"], socket_timeout=5)
    key = HEARTBEAT_KEY.format(shard)
    while not stop.is_set():
        budget = app.extensions["gateway"].budget
        snap = budget.snapshot() if budget is not None else None
        beat = {"at": time.time(), "worker": f"{socket.gethostname()}:{os.getpid()}",
                "egress": app.config.get("EGRESS_SOURCE_ADDRESS") or "default",
                "budget": None if snap is None else snap.to_dict(),
                # the worker's paced refresh runs with its background jobs (SCHEDULER_ENABLED)
                "refresh": app.extensions["refresh_pacer"].status() if app.config.get("SCHEDULER_ENABLED", True)
                else None}
        try:
            client.set(key, json.dumps(beat), ex=HEARTBEAT_TTL_SECONDS)
        except Exception as exc:
            log.warning("heartbeat to Redis failed: %s", exc)
        stop.wait(HEARTBEAT_SECONDS)
