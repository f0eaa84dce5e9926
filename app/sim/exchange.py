"""The simulated exchange: accounts, prices and their lock; trading semantics live in the mixins."""
from __future__ import annotations

import secrets
import threading
from collections import deque
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from .contracts import CONTRACTS, contract_for
from .errors import SimError, param_error
from .fills import FillsMixin
from .market import MarketMixin
from .numbers import ZERO, fmt, now_ms, to_decimal
from .operator import OperatorMixin
from .prices import PriceBook
from .queries import QueryMixin
from .settings import SettingsMixin
from .state import HEDGE, ONE_WAY, Account, Order, account_from_json, account_to_json
from .tpsl import PlanMixin
from .trading import TradingMixin
from .variants import VariantSettings

ORDER_LOG_MAX = 200_000
STATE_VERSION = 1
ID_EPOCH_MS = 1_420_070_400_000


class Exchange(TradingMixin, QueryMixin, PlanMixin, SettingsMixin, OperatorMixin, FillsMixin,
               MarketMixin):
    """All simulator state behind one re-entrant lock; every public method is thread-safe."""

    def __init__(self, seed: int = 1, variants: VariantSettings | None = None) -> None:
        self.lock = threading.RLock()
        self.seed = seed
        self.variants = variants or VariantSettings()  # unconfirmed behaviours (variants.py)
        self.symbol_status: dict[str, str] = {}  # symbolStatus other than normal, per symbol (contracts.py)
        self.prices = PriceBook(seed)
        self.accounts: dict[str, Account] = {}
        self._by_key: dict[str, Account] = {}
        self._last_id = 0
        self.version = 0
        self.order_log: deque[dict[str, Any]] = deque(maxlen=ORDER_LOG_MAX)
        self._max_held: dict[tuple[str, str, str], Decimal] = {}
        self.listeners: list[Callable[[], None]] = []  # called on every change, lock held: keep them quick

    # ----- bookkeeping shared by the mixins (call with the lock held)

    def _changed(self) -> None:
        self.version += 1
        for listener in self.listeners:
            listener()

    def _new_id(self) -> str:
        """A unique, increasing 19-digit id in Bitget's style (time in the high bits)."""
        self._last_id = max(self._last_id + 1, (now_ms() - ID_EPOCH_MS) << 22)
        return str(self._last_id)

    def _record_fill(self, acc: Account, order: Order, size: Decimal, price: Decimal, *,
                     taker: bool = True) -> None:
        """Append a fill to the account's fills and the order log; update the max-held table."""
        self.prices.record_trade(order.symbol, size, price)
        self._add_fill(acc, order, size, price, taker=taker)
        sizes = {}
        for side in ("long", "short"):
            pos = acc.positions.get((order.symbol, side))
            sizes[side] = pos.size if pos else ZERO
            key = (acc.name, order.symbol, side)
            if sizes[side] > 0 and sizes[side] > self._max_held.get(key, ZERO):
                self._max_held[key] = sizes[side]
        self.order_log.append({
            "ts": now_ms(), "account": acc.name, "orderId": order.order_id, "clientOid": order.client_oid,
            "symbol": order.symbol, "side": order.side, "tradeSide": "close" if order.reduce else "open",
            "holdSide": order.hold_side, "orderType": order.order_type, "size": fmt(size), "price": fmt(price),
            "source": order.source, "positionSize": fmt(sizes[order.hold_side]),
            "longSize": fmt(sizes["long"]), "shortSize": fmt(sizes["short"]),
        })

    # ----- accounts

    def create_account(self, name: str, balance: Decimal | str | None = None, *, equity: Decimal | str | None = None,
                       pos_mode: str = HEDGE, demo: bool = False, read_only: bool = False,
                       api_key: str | None = None, api_secret: str | None = None,
                       passphrase: str | None = None) -> dict[str, Any]:
        """Create an account (USDT balance, default 10000) and return its credentials and settings."""
        amount = to_decimal(balance if balance is not None else equity if equity is not None else "10000")
        if not name or amount is None or amount < 0 or pos_mode not in (HEDGE, ONE_WAY):
            raise param_error("name, a non-negative balance and a valid pos_mode are required")
        with self.lock:
            if name in self.accounts:
                raise SimError("40001", f"account {name!r} already exists", 409)
            key = api_key or f"sim_{secrets.token_hex(16)}"
            if key in self._by_key:
                raise SimError("40001", "api_key already in use", 409)
            acc = Account(
                name=name, api_key=key, api_secret=api_secret or secrets.token_hex(32),
                passphrase=passphrase or secrets.token_urlsafe(12), balance=amount,
                user_id=str(1_000_000_000 + secrets.randbelow(8_999_999_999)), demo=bool(demo),
                read_only=bool(read_only), pos_mode=pos_mode, c_time=now_ms(),
            )
            self.accounts[name] = acc
            self._by_key[key] = acc
            self._changed()
            return acc.public()

    def update_account(self, name: str, *, balance: Decimal | str | None = None, demo: bool | None = None,
                       read_only: bool | None = None, pos_mode: str | None = None) -> dict[str, Any]:
        """Change an account's balance or flags (pos_mode only while it is flat)."""
        with self.lock:
            acc = self.account(name)
            if balance is not None:
                amount = to_decimal(balance)
                if amount is None or amount < 0:
                    raise param_error("balance must be a non-negative number")
                acc.balance = amount
            if demo is not None:
                acc.demo = bool(demo)
            if read_only is not None:
                acc.read_only = bool(read_only)
            if pos_mode is not None:
                self._set_position_mode(acc, pos_mode)
            self._changed()
            return acc.public()

    def account(self, name: str) -> Account:
        """Look an account up by name (404-style SimError when missing)."""
        acc = self.accounts.get(name)
        if acc is None:
            raise SimError("40006", f"unknown account {name!r}", 404)
        return acc

    def account_for_key(self, api_key: str) -> Account | None:
        """The account owning an API key (a lock-free read)."""
        return self._by_key.get(api_key)

    def key_names(self) -> dict[str, str]:
        """API key -> account name."""
        with self.lock:
            return {key: acc.name for key, acc in self._by_key.items()}

    def list_accounts(self) -> list[dict[str, Any]]:
        """Every account with credentials, settings, balance and equity."""
        with self.lock:
            rows = []
            for acc in self.accounts.values():
                row = acc.public()
                row["equity"] = fmt(self.metrics(acc).equity)
                rows.append(row)
            return rows

    # ----- prices

    def set_price(self, symbol: str, price: Decimal | str) -> Decimal:
        """Set a symbol's mark price, then fire TP/SL plans and fill crossed limit orders."""
        value = to_decimal(price)
        if value is None or value <= 0:
            raise param_error("price must be a positive number")
        with self.lock:
            spec = contract_for(symbol)
            rounded = self.prices.set(spec.symbol, value)
            self._on_price(spec.symbol)
            self._changed()
            return rounded

    def tick(self) -> dict[str, Decimal]:
        """Advance the seeded random walk by one step for every symbol and process triggers."""
        with self.lock:
            prices = self.prices.step()
            for symbol in sorted(prices):
                self._on_price(symbol)
            self._changed()
            return prices

    def price(self, symbol: str) -> Decimal:
        """Current mark price of a symbol."""
        return self.prices.prices[contract_for(symbol).symbol]

    def prices_snapshot(self) -> dict[str, str]:
        """Every symbol's mark price as strings."""
        with self.lock:
            return {s: fmt(p) for s, p in self.prices.prices.items()}

    def _on_price(self, symbol: str) -> None:
        mark = self.prices.prices[symbol]
        for acc in list(self.accounts.values()):
            if acc.plans:
                self._trigger_plans(acc, symbol, mark)
            if acc.live_orders:
                self._match_limits(acc, symbol, mark)

    # ----- observation for tests and benchmarks

    def order_log_rows(self, account: str | None = None, symbol: str | None = None,
                       since: int | None = None) -> list[dict[str, Any]]:
        """Executed fills, oldest first, optionally filtered."""
        with self.lock:
            rows = list(self.order_log)
        return [r for r in rows if (account is None or r["account"] == account)
                and (symbol is None or r["symbol"] == symbol) and (since is None or r["ts"] >= since)]

    def max_held_rows(self) -> list[dict[str, str]]:
        """Largest position size ever held per account, symbol and side."""
        with self.lock:
            return [{"account": a, "symbol": s, "holdSide": h, "maxSize": fmt(v)}
                    for (a, s, h), v in sorted(self._max_held.items())]

    def reset_observations(self) -> None:
        """Forget the order log and the max-held table."""
        with self.lock:
            self.order_log.clear()
            self._max_held.clear()

    def reset(self) -> None:
        """Drop every account and restart prices from the seed."""
        with self.lock:
            self.accounts.clear()
            self._by_key.clear()
            self.prices = PriceBook(self.seed)
            self.symbol_status.clear()
            self.reset_observations()
            self._changed()

    # ----- persistence

    def to_json(self) -> dict[str, Any]:
        """A consistent snapshot of the whole state (Decimals as strings)."""
        with self.lock:
            return {"format": STATE_VERSION, "last_id": self._last_id, "prices": self.prices.to_json(),
                    "symbol_status": dict(self.symbol_status),
                    "accounts": [account_to_json(a) for a in self.accounts.values()]}

    def load_json(self, data: dict[str, Any]) -> None:
        """Replace the state with a snapshot made by to_json."""
        with self.lock:
            self.accounts.clear()
            self._by_key.clear()
            for row in data.get("accounts", []):
                acc = account_from_json(row)
                self.accounts[acc.name] = acc
                self._by_key[acc.api_key] = acc
            self.prices.load_json(data.get("prices", {}))
            self.symbol_status = {k: v for k, v in dict(data.get("symbol_status") or {}).items() if k in CONTRACTS}
            self._last_id = max(self._last_id, int(data.get("last_id", 0)))
            self._changed()


__all__ = ["Exchange", "CONTRACTS"]
