"""The cache of every account's balance and positions, so page views never fan out to the exchange.

StateCache lives in this process's memory (ENGINE=local); store.shared_state.RedisStateCache has the same
methods and keeps the views in Redis, where the shard workers write what they read and the web process
shows and judges drift from it (ENGINE=celery)."""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field, replace
from decimal import Decimal

from ..bitget.models import Position
from ..engine.replication.state import SymbolSettings


@dataclass(frozen=True)
class AccountView:
    """What we last saw of one account on the exchange."""

    account_id: int
    equity: Decimal | None = None
    available: Decimal | None = None
    unrealized_pl: Decimal | None = None
    margin_used: Decimal | None = None
    pos_mode: str | None = None
    positions: tuple[Position, ...] = ()
    fetched_at: float | None = None  # wall clock of the last successful read
    error: str | None = None  # last read error, cleared by a successful read
    error_at: float | None = None
    auth_failed: bool = False


@dataclass(frozen=True)
class CacheSnapshot:
    """Every view and every account's symbol settings, read at once (one pass over many accounts)."""

    views: dict[int, AccountView]
    settings: dict[int, dict[str, SymbolSettings]]

    def get(self, account_id: int) -> AccountView | None:
        return self.views.get(account_id)

    def symbol_settings(self, account_id: int) -> dict[str, SymbolSettings]:
        return dict(self.settings.get(account_id, {}))


class ViewWrites:
    """What a good and a failed read write, in terms of `update` (shared by every cache)."""

    def update(self, account_id: int, **changes: object) -> None:
        raise NotImplementedError

    def record_success(self, account_id: int, *, read_at: float | None = None, **changes: object) -> None:
        """A good read: store it and clear the error.

        `read_at` is when the read was sent (default now): a read sent before a run ended can hold facts from
        before that run's orders, so its age is counted from the moment it left, not from when it came back.
        """
        self.update(account_id, fetched_at=time.time() if read_at is None else read_at, error=None,
                    error_at=None, auth_failed=False, **changes)

    def record_error(self, account_id: int, message: str, *, auth: bool = False) -> None:
        """A failed read: keep the old numbers, remember why."""
        self.update(account_id, error=message, error_at=time.time(), auth_failed=auth)


@dataclass
class StateCache(ViewWrites):
    """Thread-safe views by account id, plus the symbol settings learnt from reads and set calls."""

    _views: dict[int, AccountView] = field(default_factory=dict)
    _settings: dict[int, dict[str, SymbolSettings]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def get(self, account_id: int) -> AccountView | None:
        """The cached view of an account."""
        with self._lock:
            return self._views.get(account_id)

    def all(self) -> dict[int, AccountView]:
        """A copy of every view."""
        with self._lock:
            return dict(self._views)

    def snapshot(self) -> CacheSnapshot:
        """Every view and every symbol setting, copied together."""
        with self._lock:
            return CacheSnapshot(dict(self._views), {k: dict(v) for k, v in self._settings.items()})

    def update(self, account_id: int, **changes: object) -> None:
        """Merge fields into an account's view."""
        with self._lock:
            view = self._views.get(account_id) or AccountView(account_id)
            self._views[account_id] = replace(view, **changes)

    def forget(self, account_id: int) -> None:
        """Drop a deleted account."""
        with self._lock:
            self._views.pop(account_id, None)
            self._settings.pop(account_id, None)

    def symbol_settings(self, account_id: int) -> dict[str, SymbolSettings]:
        """Known per-symbol margin mode and leverages of an account."""
        with self._lock:
            return dict(self._settings.get(account_id, {}))

    def learn_settings(self, account_id: int, symbol: str, settings: SymbolSettings) -> None:
        """Remember what the account has for a symbol."""
        with self._lock:
            self._settings.setdefault(account_id, {})[symbol] = settings

    def forget_settings(self, account_id: int, symbol: str) -> None:
        """Forget a symbol's settings (e.g. after a failed set call)."""
        with self._lock:
            self._settings.get(account_id, {}).pop(symbol, None)
