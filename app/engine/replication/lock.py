"""One replication at a time, across threads and processes: an exclusive lock on a file in instance/."""
from __future__ import annotations

import fcntl
import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ...errors import BusyError


class ReplicationLock:
    """Non-blocking exclusive lock; a second caller gets BusyError naming the running action."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @contextmanager
    def hold(self, action: str, trigger: str, wait: float = 0.0) -> Iterator[None]:
        """Hold the lock for one action; wait up to `wait` seconds for a running one, then raise BusyError."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            self._acquire(fd, wait)
            os.ftruncate(fd, 0)
            os.pwrite(fd, json.dumps({"action": action, "trigger": trigger, "since": time.time()}).encode(), 0)
            try:
                yield
            finally:
                os.ftruncate(fd, 0)
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    def _acquire(self, fd: int, wait: float) -> None:
        deadline = time.monotonic() + max(0.0, wait)
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise BusyError(self._busy_message(fd)) from None
            time.sleep(0.05)

    @staticmethod
    def _busy_message(fd: int) -> str:
        try:
            holder = json.loads(os.pread(fd, 512, 0) or b"{}")
        except (OSError, ValueError):
            holder = {}
        if holder.get("action"):
            age = max(0.0, time.time() - float(holder.get("since", time.time())))
            return (f"Already running: {holder['action']} (started {age:.1f}s ago by {holder.get('trigger', '?')}). "
                    "Wait for it to finish.")
        return "Another replication is already running. Wait for it to finish."
