"""`flask --app wsgi worker --shard K`: one shard's Celery worker (one task at a time, so one account's
operations stay in order), its heartbeat, and its own egress address and request budget."""
from __future__ import annotations

import logging
import threading

from flask import Flask

from .celery_app import make_celery, queue_of
from .engine import beat_forever

log = logging.getLogger(__name__)


def run_worker(app: Flask, shard: int, loglevel: str = "INFO") -> None:
    """Serve shard `shard` until stopped (SIGTERM / Ctrl-C)."""
    if app.config.get("ENGINE") != "celery":
        raise RuntimeError("a shard worker needs ENGINE=celery (FLASK_ENGINE=celery) and REDIS_URL")
    celery = make_celery(app)
    stop = threading.Event()
    threading.Thread(target=beat_forever, args=(app, shard, stop), name="heartbeat", daemon=True).start()
    log.info("shard %d worker: queue %s, egress %s", shard, queue_of(shard),
             app.config.get("EGRESS_SOURCE_ADDRESS") or "the default route")
    try:
        celery.worker_main(["worker", "-Q", queue_of(shard), "-P", "solo", "-n", f"shard{shard}@%h",
                            "--without-gossip", "--without-mingle", "--without-heartbeat", "-l", loglevel])
    finally:
        stop.set()
