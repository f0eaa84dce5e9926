"""`flask --app wsgi worker --shard K`: one shard's Celery worker (one task at a time, so one account's
operations stay in order), its heartbeat, its paced refresh of the shard's clients, and its own egress
address and request budget."""
from __future__ import annotations

import logging
import threading

from flask import Flask

from ...store.shared_state import FLUSH_SECONDS, ShardStateCache
from .celery_app import make_celery, queue_of
from .engine import beat_forever

log = logging.getLogger(__name__)


def pace_refresh(app: Flask, stop: threading.Event) -> None:
    """This shard's paced client refresh (balances, positions, fills, loss limits), one slice a second."""
    from ...feeds.refresh_pacer import TICK_SECONDS

    pacer = app.extensions["refresh_pacer"]
    while not stop.wait(TICK_SECONDS):
        try:
            pacer.tick()
        except Exception:
            log.exception("this shard's paced refresh failed; trying again next tick")


def keep_client_streams(app: Flask, stop: threading.Event) -> None:
    """This shard's clients' own WebSockets (a stop or liquidation shows at once), matched to its accounts."""
    from ...feeds.client_feeds import RESYNC_SECONDS

    streams = app.extensions["client_streams"]
    try:
        while not stop.is_set():
            try:
                streams.sync()
            except Exception:
                log.exception("this shard's client streams could not be matched; trying again")
            stop.wait(RESYNC_SECONDS)
    finally:
        streams.stop()


def flush_forever(cache: ShardStateCache, stop: threading.Event) -> None:
    """This worker's reads reach the shared state cache every FLUSH_SECONDS (and at the end of every task)."""
    while not stop.wait(FLUSH_SECONDS):
        cache.flush()
    cache.flush()


def run_worker(app: Flask, shard: int, loglevel: str = "INFO") -> None:
    """Serve shard `shard` until stopped (SIGTERM / Ctrl-C)."""
    if app.config.get("ENGINE") != "celery":
        raise RuntimeError("a shard worker needs ENGINE=celery (FLASK_ENGINE=celery) and REDIS_URL")
    app.config["WORKER_SHARD"] = int(shard)  # from here on this process reads and copies this shard's clients
    cache = app.extensions["state"] = ShardStateCache(app.extensions["state"])
    celery = make_celery(app)
    stop = threading.Event()
    threading.Thread(target=flush_forever, args=(cache, stop), name="state-flush", daemon=True).start()
    threading.Thread(target=beat_forever, args=(app, shard, stop), name="heartbeat", daemon=True).start()
    if app.config.get("SCHEDULER_ENABLED", True):  # a worker's background jobs: its clients' refresh and streams
        threading.Thread(target=pace_refresh, args=(app, stop), name="refresh-pacer", daemon=True).start()
        if app.config.get("WS_ENABLED", True) and int(app.config.get("WS_CLIENT_LIMIT", 50)) > 0:
            threading.Thread(target=keep_client_streams, args=(app, stop), name="client-streams",
                             daemon=True).start()
    log.info("shard %d worker: queue %s, egress %s", shard, queue_of(shard),
             app.config.get("EGRESS_SOURCE_ADDRESS") or "the default route")
    try:
        celery.worker_main(["worker", "-Q", queue_of(shard), "-P", "solo", "-n", f"shard{shard}@%h",
                            "--without-gossip", "--without-mingle", "--without-heartbeat", "-l", loglevel])
    finally:
        stop.set()
