"""Background work, started once per serving process: simulator + seed, poller, refresh and snapshot jobs."""
from __future__ import annotations

import fcntl
import logging
import os
import threading
from datetime import datetime, timedelta
from pathlib import Path

from apscheduler.schedulers.background import BackgroundScheduler
from flask import Flask

log = logging.getLogger(__name__)
_start_lock = threading.Lock()


def start_background(app: Flask) -> None:
    """Idempotent: prepare sim mode, recover interrupted runs, start the scheduler if this process may poll."""
    with _start_lock:
        if app.extensions.get("background_started"):
            return
        app.extensions["background_started"] = True
    from ..engine.replication.recording import mark_interrupted_runs
    from ..store.extensions import db

    with app.app_context():
        if app.config["EXCHANGE"] == "sim":
            from ..sim_mode import seed_demo_accounts

            if app.config.get("SIM_SEED_ACCOUNTS"):
                seed_demo_accounts(app)
            else:
                app.extensions["sim_runner"].ensure_started()
        mark_interrupted_runs()
        db.session.remove()
    if app.config.get("SCHEDULER_ENABLED") and take_poller_lock(app):
        start_scheduler(app)
        if app.config.get("WS_ENABLED", True):
            app.extensions["master_feed"].start()  # pushes start runs at once; the scheduler's polls reconcile


def take_poller_lock(app: Flask) -> bool:
    """Only one process polls: hold an exclusive lock on instance/poller.lock for the process lifetime."""
    path = Path(app.instance_path) / "poller.lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        log.info("another process holds the poller lock; this one will not poll")
        return False
    app.extensions["poller_lock_fd"] = fd
    return True


def start_scheduler(app: Flask) -> BackgroundScheduler:
    """The APScheduler jobs: master poll, client refresh, equity snapshots."""
    from .refresh_pacer import TICK_SECONDS
    from .snapshots import take_snapshots
    from .watchdog import Watchdog

    poller = app.extensions["poller"]
    scheduler = BackgroundScheduler(job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 30})
    now = datetime.now()
    scheduler.add_job(poller.tick, "interval", seconds=float(app.config["POLL_INTERVAL_SECONDS"]),
                      id="poll-master", next_run_time=now)
    # the master is read by every poll already; this job keeps the clients' balances fresh, a slice a second
    pacer = app.extensions["refresh_pacer"]
    scheduler.add_job(lambda: safe(lambda a: pacer.tick(), app), "interval", seconds=TICK_SECONDS,
                      id="refresh-accounts", next_run_time=now)
    scheduler.add_job(lambda: safe(take_snapshots, app), "interval",
                      seconds=float(app.config["SNAPSHOT_INTERVAL_SECONDS"]), id="snapshots",
                      next_run_time=now + timedelta(seconds=5))
    watchdog = Watchdog()
    app.extensions["watchdog"] = watchdog
    scheduler.add_job(lambda: safe(watchdog.check, app), "interval", seconds=5, id="watchdog",
                      next_run_time=now + timedelta(seconds=10))
    if app.config.get("WS_ENABLED", True) and int(app.config.get("WS_CLIENT_LIMIT", 50)) > 0:
        from .client_feeds import RESYNC_SECONDS

        streams = app.extensions["client_streams"]
        scheduler.add_job(lambda: safe(lambda a: streams.sync(), app), "interval", seconds=RESYNC_SECONDS,
                          id="client-streams", next_run_time=now + timedelta(seconds=2))
    scheduler.start()
    app.extensions["scheduler"] = scheduler
    log.info("scheduler started: polling the master every %ss", app.config["POLL_INTERVAL_SECONDS"])
    return scheduler


def safe(fn, app: Flask) -> None:
    """Run a job body; log instead of raising so the scheduler keeps going."""
    try:
        fn(app)
    except Exception:
        log.exception("background job %s failed", getattr(fn, "__name__", fn))


def register_lazy_start(app: Flask) -> None:
    """Under `flask run` the first request starts the background work (never for CLI commands)."""

    @app.before_request
    def _start_once() -> None:
        if not app.extensions.get("background_started") and app.config.get("START_BACKGROUND_ON_REQUEST", True):
            start_background(app)
