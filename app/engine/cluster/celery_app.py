"""The Celery application of the copier: Redis as broker and result store, one queue per shard.

Tasks are acknowledged after they ran (task_acks_late) and given back when their worker dies
(task_reject_on_worker_lost); Redis hands an unacknowledged task to the next worker of its queue after
CLUSTER_REDELIVERY_SECONDS (plus at most a third of it: how often the workers look). Every task expires at
the run's deadline, so a worker that starts late never acts on an old master snapshot.
"""
from __future__ import annotations

import os
import socket
from typing import Any

from celery import Celery
from flask import Flask

from .wire import master_from_wire, outcome_to_wire

TASK_SYNC_SHARD = "copier.sync_shard"
TASK_CLOSE_SHARD = "copier.close_shard"
TASK_REFRESH_SHARD = "copier.refresh_shard"


def queue_of(shard: int) -> str:
    """The queue a shard's worker consumes."""
    return f"shard-{int(shard)}"


def flush_views(app: Flask) -> None:
    """A shard worker's cache writes its changes to the shared cache now (no-op for any other cache)."""
    flush = getattr(app.extensions["state"], "flush", None)
    if flush is not None:
        flush()


def make_celery(app: Flask) -> Celery:
    """A Celery app configured from the Flask config (REDIS_URL, CLUSTER_REDELIVERY_SECONDS)."""
    url = app.config.get("REDIS_URL")
    if not url:
        raise RuntimeError("ENGINE=celery needs REDIS_URL (e.g. redis://127.0.0.1:6379/0)")
    redelivery = float(app.config.get("CLUSTER_REDELIVERY_SECONDS", 30))
    celery = Celery("copier", broker=url, backend=url, set_as_current=False)
    celery.conf.update(
        task_acks_late=True, task_reject_on_worker_lost=True, worker_prefetch_multiplier=1,
        task_serializer="json", result_serializer="json", accept_content=["json"], result_expires=3600,
        # a dead worker's unacknowledged task goes back to its queue once it is older than the visibility
        # timeout; kombu looks for such tasks only every interval x throttle seconds (100 s by default)
        broker_transport_options={"visibility_timeout": redelivery, "unacked_restore_throttle": 1,
                                  "unacked_restore_interval": min(10.0, max(1.0, redelivery / 3))},
        result_backend_transport_options={"visibility_timeout": redelivery},
        broker_connection_retry_on_startup=True, worker_hijack_root_logger=False,
        task_default_queue=queue_of(0), worker_send_task_events=False,
    )

    @celery.task(name=TASK_SYNC_SHARD, bind=True)
    def sync_shard(task: Any, payload: dict[str, Any]) -> dict[str, Any]:
        """Reconcile this shard's accounts to the master snapshot of the run (on the shard's worker)."""
        service = app.extensions["replication"]
        with app.app_context():
            from ...store.extensions import db

            try:
                results = service.sync_accounts(
                    payload["account_ids"], master_from_wire(payload["master"]), payload["run_uid"],
                    positions=bool(payload["positions"]), tpsl=bool(payload["tpsl"]),
                    preview=bool(payload["preview"]), detected_at=payload.get("detected_at"))
            finally:
                db.session.remove()
                flush_views(app)  # what this task read is in the shared cache before the coordinator goes on
        return {"shard": payload["shard"], "worker": f"{socket.gethostname()}:{os.getpid()}",
                "redelivered": bool(task.request.delivery_info.get("redelivered")),
                "results": [outcome_to_wire(r) for r in results]}

    @celery.task(name=TASK_CLOSE_SHARD, bind=True)
    def close_shard(task: Any, payload: dict[str, Any]) -> dict[str, Any]:
        """Emergency close of this shard's accounts (all positions, or one symbol), swept and confirmed."""
        from ..replication.closing import sweep_accounts

        service = app.extensions["replication"]
        with app.app_context():
            from ...store.extensions import db
            from ...store.models import Account

            try:
                accounts = db.session.query(Account).filter(Account.id.in_(payload["account_ids"])).order_by(
                    Account.id).all()
                results = sweep_accounts(service, accounts, payload.get("symbol"))
            finally:
                db.session.remove()
                flush_views(app)
        return {"shard": payload["shard"], "worker": f"{socket.gethostname()}:{os.getpid()}",
                "results": [outcome_to_wire(r) for r in results]}

    @celery.task(name=TASK_REFRESH_SHARD, ignore_result=True)
    def refresh_shard(payload: dict[str, Any]) -> dict[str, Any]:
        """Re-read these clients soon, in the background within this worker's budget (never holds the queue)."""
        from ...feeds.refresh import refresh_soon

        refresh_soon(app, [int(i) for i in payload["account_ids"]])
        return {"shard": payload["shard"], "queued": len(payload["account_ids"])}

    return celery
