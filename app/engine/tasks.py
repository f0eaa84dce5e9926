"""Short background tasks (refresh after an action, fill measurement): tracked so shutdown can wait for them."""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from flask import Flask

log = logging.getLogger(__name__)
_start_lock = threading.Lock()  # a task is added and started in one step, so a waiter never sees it unstarted


def run_in_background(app: Flask, name: str, work: Callable[[], object]) -> threading.Thread:
    """Start a daemon thread that logs (never raises) and is remembered until it ends."""
    tasks: set[threading.Thread] = app.extensions.setdefault("background_tasks", set())

    def body() -> None:
        try:
            work()
        except Exception:
            log.exception("background task %s failed", name)
        finally:
            tasks.discard(threading.current_thread())

    thread = threading.Thread(target=body, name=name, daemon=True)
    with _start_lock:
        tasks.add(thread)
        thread.start()
    return thread


def wait_for_background(app: Flask, timeout: float = 10.0) -> bool:
    """Wait until every tracked background task has finished."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        with _start_lock:
            pending = list(app.extensions.get("background_tasks", ()))
        if not pending:
            break
        for thread in pending:
            thread.join(max(0.0, end - time.monotonic()))
    return not app.extensions.get("background_tasks")
