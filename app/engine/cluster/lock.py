"""One replication at a time across hosts: the lock in Redis (the file lock only spans one machine)."""
from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from ...errors import BusyError

LOCK_KEY = "copier:replication-lock"
HOLDER_KEY = "copier:replication-lock:holder"
LEASE_SECONDS = 600  # a coordinator that died holding it frees it after this long


class RedisReplicationLock:
    """The ReplicationLock interface over Redis: SET NX with a lease, released only by its holder."""

    _RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end"

    def __init__(self, url: str) -> None:
        import redis

        self.redis = redis.Redis.from_url(url, socket_timeout=5)
        self._release = self.redis.register_script(self._RELEASE)

    @contextmanager
    def hold(self, action: str, trigger: str, wait: float = 0.0) -> Iterator[None]:
        """Hold the lock for one action; wait up to `wait` seconds for a running one, then raise BusyError."""
        token = uuid.uuid4().hex
        deadline = time.monotonic() + max(0.0, wait)
        while not self.redis.set(LOCK_KEY, token, nx=True, ex=LEASE_SECONDS):
            if time.monotonic() >= deadline:
                raise BusyError(self._busy_message())
            time.sleep(0.05)
        self.redis.set(HOLDER_KEY, json.dumps({"action": action, "trigger": trigger, "since": time.time()}),
                       ex=LEASE_SECONDS)
        try:
            yield
        finally:
            self._release(keys=[LOCK_KEY], args=[token])

    def _busy_message(self) -> str:
        raw = self.redis.get(HOLDER_KEY)
        holder = json.loads(raw) if raw else {}
        if holder.get("action"):
            age = max(0.0, time.time() - float(holder.get("since", time.time())))
            return (f"Already running: {holder['action']} (started {age:.1f}s ago by {holder.get('trigger', '?')}). "
                    "Wait for it to finish.")
        return "Another replication is already running. Wait for it to finish."
