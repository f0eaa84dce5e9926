"""The state cache in Redis (ENGINE=celery): one view per account, shared by the web process and every shard.

A shard worker writes what it reads of its clients (in runs and in its paced refresh); the web process reads
the same views to draw the dashboard and to judge which clients drift. Each view is a Redis hash with one
field per attribute, so two processes writing different fields of one account (the worker its read, the web
process a client stream's positions) never overwrite each other: every write is one HSET of the fields it
changes. Values are JSON with Decimals as text (never floats).

Redis being down never crashes a page or a run: a failed read is an unknown view (None, never "flat"), a
failed write is logged and the next read repairs it, and `problem` says what happened for the operator.
"""
from __future__ import annotations

import dataclasses
import json
import logging
import time
from typing import Any

from ..bitget.models import Position
from ..engine.replication.state import SymbolSettings
from .state import AccountView, CacheSnapshot

log = logging.getLogger(__name__)
PREFIX = "copier:state:"
WARN_EVERY_SECONDS = 30.0
VIEW_FIELDS = tuple(f.name for f in dataclasses.fields(AccountView) if f.name != "account_id")


def _dump(value: Any) -> str:
    from ..engine.cluster.wire import encode

    return json.dumps(encode(value), separators=(",", ":"))


def _load(raw: bytes | str) -> Any:
    from ..engine.cluster.wire import decode

    return decode(json.loads(raw))


def view_from_hash(account_id: int, fields: dict[bytes, bytes]) -> AccountView | None:
    """An AccountView from its hash (None for an empty hash); unknown fields from a newer process are ignored."""
    if not fields:
        return None
    values: dict[str, Any] = {}
    for key, raw in fields.items():
        name = key.decode() if isinstance(key, bytes) else key
        if name in VIEW_FIELDS:
            values[name] = _load(raw)
    if "positions" in values:
        values["positions"] = tuple(Position(**p) for p in values["positions"] or ())
    return AccountView(account_id, **values)


class RedisStateCache:
    """StateCache's methods over Redis (see the module docstring)."""

    def __init__(self, url: str, prefix: str = PREFIX) -> None:
        import redis

        self.redis = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)
        self.prefix = prefix
        self.problem: str | None = None  # the last Redis failure, until a call works again
        self._warned_at = 0.0

    # ----- keys ---------------------------------------------------------------------------------------
    def _view_key(self, account_id: int) -> str:
        return f"{self.prefix}view:{int(account_id)}"

    def _settings_key(self, account_id: int) -> str:
        return f"{self.prefix}settings:{int(account_id)}"

    @property
    def _ids_key(self) -> str:
        return f"{self.prefix}ids"

    # ----- reads --------------------------------------------------------------------------------------
    def get(self, account_id: int) -> AccountView | None:
        """The view of an account; None when never read or when Redis cannot be read."""
        fields = self._call(lambda: self.redis.hgetall(self._view_key(account_id)), default={})
        return view_from_hash(account_id, fields)

    def all(self) -> dict[int, AccountView]:
        """Every view (one pipelined read)."""
        return self.snapshot().views

    def snapshot(self) -> CacheSnapshot:
        """Every view and symbol setting in one round trip of pipelined reads (empty when Redis is down)."""
        def read() -> CacheSnapshot:
            ids = sorted(int(i) for i in self.redis.smembers(self._ids_key))
            pipe = self.redis.pipeline(transaction=False)
            for account_id in ids:
                pipe.hgetall(self._view_key(account_id))
                pipe.hgetall(self._settings_key(account_id))
            answers = pipe.execute()
            views, settings = {}, {}
            for n, account_id in enumerate(ids):
                view = view_from_hash(account_id, answers[2 * n])
                if view is not None:
                    views[account_id] = view
                if answers[2 * n + 1]:
                    settings[account_id] = self._settings_from(answers[2 * n + 1])
            return CacheSnapshot(views, settings)

        return self._call(read, default=CacheSnapshot({}, {}))

    def symbol_settings(self, account_id: int) -> dict[str, SymbolSettings]:
        """Known per-symbol margin mode and leverages of an account."""
        fields = self._call(lambda: self.redis.hgetall(self._settings_key(account_id)), default={})
        return self._settings_from(fields)

    @staticmethod
    def _settings_from(fields: dict[bytes, bytes]) -> dict[str, SymbolSettings]:
        out = {}
        for symbol, raw in fields.items():
            mode, long_lev, short_lev = json.loads(raw)
            out[symbol.decode() if isinstance(symbol, bytes) else symbol] = SymbolSettings(mode, long_lev, short_lev)
        return out

    # ----- writes -------------------------------------------------------------------------------------
    def update(self, account_id: int, **changes: object) -> None:
        """Merge fields into an account's view (one HSET of just these fields)."""
        unknown = set(changes) - set(VIEW_FIELDS)
        if unknown:
            raise TypeError(f"not a view field: {', '.join(sorted(unknown))}")
        if not changes:
            return
        mapping = {name: _dump(value) for name, value in changes.items()}

        def write() -> None:
            pipe = self.redis.pipeline(transaction=True)
            pipe.sadd(self._ids_key, int(account_id))
            pipe.hset(self._view_key(account_id), mapping=mapping)
            pipe.execute()

        self._call(write, default=None)

    def record_success(self, account_id: int, *, read_at: float | None = None, **changes: object) -> None:
        """A good read: store it and clear the error (`read_at`: when the read was sent, see StateCache)."""
        self.update(account_id, fetched_at=time.time() if read_at is None else read_at, error=None,
                    error_at=None, auth_failed=False, **changes)

    def record_error(self, account_id: int, message: str, *, auth: bool = False) -> None:
        """A failed read: keep the old numbers, remember why."""
        self.update(account_id, error=message, error_at=time.time(), auth_failed=auth)

    def forget(self, account_id: int) -> None:
        """Drop a deleted account."""
        def drop() -> None:
            pipe = self.redis.pipeline(transaction=True)
            pipe.srem(self._ids_key, int(account_id))
            pipe.delete(self._view_key(account_id), self._settings_key(account_id))
            pipe.execute()

        self._call(drop, default=None)

    def learn_settings(self, account_id: int, symbol: str, settings: SymbolSettings) -> None:
        """Remember what the account has for a symbol."""
        raw = json.dumps([settings.margin_mode, settings.long_leverage, settings.short_leverage])

        def write() -> None:
            pipe = self.redis.pipeline(transaction=True)
            pipe.sadd(self._ids_key, int(account_id))
            pipe.hset(self._settings_key(account_id), symbol, raw)
            pipe.execute()

        self._call(write, default=None)

    def forget_settings(self, account_id: int, symbol: str) -> None:
        """Forget a symbol's settings (e.g. after a failed set call)."""
        self._call(lambda: self.redis.hdel(self._settings_key(account_id), symbol), default=None)

    # ----- failures -----------------------------------------------------------------------------------
    def _call(self, fn, *, default):
        import redis

        try:
            value = fn()
        except redis.RedisError as exc:
            self.problem = f"the shared state cache (Redis) failed: {exc}"
            now = time.monotonic()
            if now - self._warned_at >= WARN_EVERY_SECONDS:
                self._warned_at = now
                log.warning("%s; views read as unknown until it works again", self.problem)
            return default
        self.problem = None
        return value
