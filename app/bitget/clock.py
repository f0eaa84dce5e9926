"""Server-time offset shared by the clients of one host, so signatures stay inside Bitget's 30 s window."""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import ClassVar

from .errors import BitgetError

log = logging.getLogger("app.bitget")


class ServerClock:
    """Bitget server time as local wall time plus an offset; thread-safe, shareable per base URL."""

    _shared: ClassVar[dict[str, ServerClock]] = {}
    _shared_lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, *, resync_s: float = 600.0, wall: Callable[[], float] = time.time,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.resync_s = resync_s
        self._wall = wall
        self._monotonic = monotonic
        self._offset_ms = 0
        self._checked_at: float | None = None
        self._lock = threading.RLock()

    @classmethod
    def shared(cls, base_url: str) -> ServerClock:
        """The process-wide clock for one base URL (all accounts on one host share one offset)."""
        with cls._shared_lock:
            return cls._shared.setdefault(base_url.rstrip("/"), cls())

    @property
    def offset_ms(self) -> int:
        """Server minus local time in ms, from the last sync."""
        return self._offset_ms

    def now_ms(self) -> int:
        """Estimated Bitget server time in ms."""
        return int(self._wall() * 1000) + self._offset_ms

    def is_stale(self) -> bool:
        """True when never synced or the last sync attempt is older than `resync_s`."""
        checked = self._checked_at
        return checked is None or self._monotonic() - checked >= self.resync_s

    def sync(self, fetch: Callable[[], int]) -> int:
        """Fetch server time now, store offset = server - midpoint of the round trip, return it."""
        with self._lock:
            self._checked_at = self._monotonic()  # set first: a failing /time is not hammered
            before = self._wall() * 1000
            server_ms = fetch()
            after = self._wall() * 1000
            self._offset_ms = int(server_ms - (before + after) / 2)
            return self._offset_ms

    def resync(self, fetch: Callable[[], int], min_age_s: float = 5.0) -> None:
        """Sync after a timestamp rejection unless another thread did so in the last `min_age_s`."""
        with self._lock:
            if self._checked_at is None or self._monotonic() - self._checked_at >= min_age_s:
                self.sync(fetch)

    def ensure_fresh(self, fetch: Callable[[], int]) -> None:
        """Sync when stale; a failed sync is logged and local time is used until the next attempt."""
        if not self.is_stale():
            return
        with self._lock:
            if not self.is_stale():  # another thread synced while we waited for the lock
                return
            try:
                self.sync(fetch)
            except BitgetError as err:
                log.warning("Bitget server-time sync failed, keeping offset %d ms: %s", self._offset_ms, err)
