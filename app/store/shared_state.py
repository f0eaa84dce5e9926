"""The state cache in Redis (ENGINE=celery): one view per account, shared by the web process and every shard.

A shard worker writes what it reads of its clients (in runs and in its paced refresh); the web process reads
the same views to draw the dashboard and to judge which clients drift. Each view is a Redis hash with one
field per attribute, so two processes writing different fields of one account (the worker its read, the web
process a client stream's positions) never overwrite each other: every write is one HSET of the fields it
changes. Values are JSON with Decimals as text (never floats).

A shard worker keeps its own clients' views in memory and writes the changed fields to Redis in batches
(ShardStateCache): it is their only reader of consequence, and a round trip per read and write cost more
CPU than its requests to Bitget.

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
from .state import AccountView, CacheSnapshot, StateCache, ViewWrites

log = logging.getLogger(__name__)
PREFIX = "copier:state:"
WARN_EVERY_SECONDS = 30.0
FLUSH_SECONDS = 0.5  # a shard worker's changes reach the shared cache at most this much later
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


class RedisStateCache(ViewWrites):
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
        self.write_many({account_id: changes}, {})

    def write_many(self, views: dict[int, dict[str, object]],
                   settings: dict[int, dict[str, SymbolSettings | None]]) -> bool:
        """Many accounts' changed fields and symbol settings (None: forget it) in one round trip; False when
        Redis could not take them."""
        if not views and not settings:
            return True

        def write() -> bool:
            pipe = self.redis.pipeline(transaction=False)
            for account_id in set(views) | set(settings):
                pipe.sadd(self._ids_key, int(account_id))
            for account_id, changes in views.items():
                if changes:
                    pipe.hset(self._view_key(account_id),
                              mapping={name: _dump(value) for name, value in changes.items()})
            for account_id, symbols in settings.items():
                for symbol, known in symbols.items():
                    if known is None:
                        pipe.hdel(self._settings_key(account_id), symbol)
                    else:
                        pipe.hset(self._settings_key(account_id), symbol, json.dumps(
                            [known.margin_mode, known.long_leverage, known.short_leverage]))
            pipe.execute()
            return True

        return bool(self._call(write, default=False))

    def forget(self, account_id: int) -> None:
        """Drop a deleted account."""
        def drop() -> None:
            pipe = self.redis.pipeline(transaction=False)
            pipe.srem(self._ids_key, int(account_id))
            pipe.delete(self._view_key(account_id), self._settings_key(account_id))
            pipe.execute()

        self._call(drop, default=None)

    def learn_settings(self, account_id: int, symbol: str, settings: SymbolSettings) -> None:
        """Remember what the account has for a symbol."""
        self.write_many({}, {account_id: {symbol: settings}})

    def forget_settings(self, account_id: int, symbol: str) -> None:
        """Forget a symbol's settings (e.g. after a failed set call)."""
        self.write_many({}, {account_id: {symbol: None}})

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


class ShardStateCache(ViewWrites):
    """A shard worker's cache: its clients' views in this process's memory, mirrored to the shared cache.

    The worker is the only process that reads its clients, so what it wrote itself is the view it needs:
    runs read and write it at memory speed (a Redis round trip per read and write cost more CPU than the
    requests to Bitget). An account the worker has not seen since it started (a restart, a rebalance) is
    loaded from Redis once. The changed fields go to Redis in one pipelined write per `flush`: at the end
    of every task, before the coordinator reads the answer, and every FLUSH_SECONDS for the paced refresh.
    """

    def __init__(self, shared: RedisStateCache) -> None:
        import threading

        self.shared = shared
        self.local = StateCache()
        self._loaded: set[int] = set()
        self._dirty: dict[int, set[str]] = {}
        self._dirty_settings: dict[int, set[str]] = {}
        self._lock = threading.Lock()

    @property
    def problem(self) -> str | None:
        return self.shared.problem

    def _load(self, account_id: int) -> None:
        """Take the shared view and settings of an account not seen yet in this process (once)."""
        with self._lock:
            if account_id in self._loaded:
                return
            self._loaded.add(account_id)
        view = self.shared.get(account_id)
        if view is not None:
            fields = {name: getattr(view, name) for name in VIEW_FIELDS}
            with self._lock:  # what this process wrote meanwhile is newer
                fields = {k: v for k, v in fields.items() if k not in self._dirty.get(account_id, ())}
            self.local.update(account_id, **fields)
        for symbol, known in self.shared.symbol_settings(account_id).items():
            if symbol not in self.local.symbol_settings(account_id):
                self.local.learn_settings(account_id, symbol, known)

    def get(self, account_id: int) -> AccountView | None:
        self._load(account_id)
        return self.local.get(account_id)

    def symbol_settings(self, account_id: int) -> dict[str, SymbolSettings]:
        self._load(account_id)
        return self.local.symbol_settings(account_id)

    def all(self) -> dict[int, AccountView]:
        return self.snapshot().views

    def snapshot(self) -> CacheSnapshot:
        """Every account's view as the shared cache has it (after this worker's own changes went there)."""
        self.flush()
        return self.shared.snapshot()

    def update(self, account_id: int, **changes: object) -> None:
        self._load(account_id)
        self.local.update(account_id, **changes)
        with self._lock:
            self._dirty.setdefault(account_id, set()).update(changes)

    def learn_settings(self, account_id: int, symbol: str, settings: SymbolSettings) -> None:
        self._load(account_id)
        self.local.learn_settings(account_id, symbol, settings)
        with self._lock:
            self._dirty_settings.setdefault(account_id, set()).add(symbol)

    def forget_settings(self, account_id: int, symbol: str) -> None:
        self._load(account_id)
        self.local.forget_settings(account_id, symbol)
        with self._lock:
            self._dirty_settings.setdefault(account_id, set()).add(symbol)

    def forget(self, account_id: int) -> None:
        self.local.forget(account_id)
        with self._lock:
            self._dirty.pop(account_id, None)
            self._dirty_settings.pop(account_id, None)
        self.shared.forget(account_id)

    def flush(self) -> bool:
        """Write every changed field to the shared cache in one round trip; kept for the next flush on failure."""
        with self._lock:
            dirty, self._dirty = self._dirty, {}
            dirty_settings, self._dirty_settings = self._dirty_settings, {}
        views: dict[int, dict[str, object]] = {}
        for account_id, names in dirty.items():
            view = self.local.get(account_id)
            if view is not None:
                views[account_id] = {name: getattr(view, name) for name in names}
        settings: dict[int, dict[str, SymbolSettings | None]] = {}
        for account_id, symbols in dirty_settings.items():
            known = self.local.symbol_settings(account_id)
            settings[account_id] = {symbol: known.get(symbol) for symbol in symbols}
        if self.shared.write_many(views, settings):
            return True
        with self._lock:  # Redis refused: these go again with the next flush
            for account_id, names in dirty.items():
                self._dirty.setdefault(account_id, set()).update(names)
            for account_id, symbols in dirty_settings.items():
                self._dirty_settings.setdefault(account_id, set()).update(symbols)
        return False
