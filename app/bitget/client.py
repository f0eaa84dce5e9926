"""BitgetClient: the only code that speaks HTTP to Bitget (v2 mix, USDT-M futures).

It signs the exact bytes it sends, parses the envelope (success only on code "00000"), turns every failure
into one `BitgetError` subclass and retries in exactly one place (`_call`). Transport, clock, sleep and
limiters are injected so tests can drive it without the network and without waiting.
"""
from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import requests

from .budget import BudgetExhausted
from .clock import ServerClock
from .errors import (
    NO_CHANGE_CODES,
    AuthError,
    BitgetError,
    DuplicateClientOidError,
    ExchangeUnavailableError,
    NoPositionError,
    OrderNotFoundError,
    RateLimitError,
    RateLimitLockoutError,
    RetryableError,
    SymbolUnavailableError,
    TimestampError,
    network_error,
)
from .models import (
    AccountBalance,
    BatchResult,
    Contract,
    FillPage,
    KeyInfo,
    Order,
    OrderAck,
    PlanOrder,
    Position,
    SymbolAccount,
    Ticker,
)
from .ratelimit import PUBLIC_PATHS, SHARED_SERVER_LIMITER, AccountRateLimiter, ServerRateLimiter
from .signing import sign
from .transport import SUCCESS, PooledTransport, encode_request, parse_envelope, wire_decimal

__all__ = ["BitgetClient", "Credentials", "PooledTransport", "ServerClock", "wire_decimal"]

log = logging.getLogger("app.bitget")

LIVE_BASE_URL = "https://api.bitget.com"
TIME_PATH = "/api/v2/public/time"
MIX = "/api/v2/mix"
MAX_BATCH = 50
PAGE_SIZE = 100  # Bitget's default page size for orders-pending / orders-plan-pending
MAX_PAGES = 20
_BASE_HEADERS = {"Content-Type": "application/json", "locale": "en-US"}
# POSTs that set an absolute value or name their target: sending them twice is harmless.
_IDEMPOTENT_POSTS = frozenset({
    f"{MIX}/account/set-leverage", f"{MIX}/account/set-margin-mode", f"{MIX}/account/set-position-mode",
    f"{MIX}/order/cancel-order", f"{MIX}/order/cancel-plan-order", f"{MIX}/order/modify-tpsl-order",
})


def _mask(value: str) -> str:
    """Keep the first and last 4 characters of a key; hide short values entirely."""
    return f"{value[:4]}...{value[-4:]}" if len(value) > 8 else "***"


@dataclass(frozen=True, repr=False)
class Credentials:
    """One account's API key; masks itself in repr/str so it can be logged by accident safely."""

    api_key: str
    api_secret: str
    passphrase: str
    demo: bool = False

    def __repr__(self) -> str:
        return (f"Credentials(api_key='{_mask(self.api_key)}', api_secret='***', passphrase='***', "
                f"demo={self.demo})")

    __str__ = __repr__


RATE_LIMIT_EXTRA_RETRIES = 2


class BitgetClient:
    """Client for one Bitget account (or public data only when credentials is None)."""

    def __init__(
        self,
        credentials: Credentials | None,
        base_url: str,
        *,
        session: requests.Session | PooledTransport | None = None,
        clock: ServerClock | None = None,
        sleep: Callable[[float], None] = time.sleep,
        timeout: float | tuple[float, float] = (3.05, 10.0),
        max_retries: int = 3,
        backoff_base: float = 0.2,
        backoff_cap: float = 5.0,
        rng: random.Random | None = None,
        rate_limiter: AccountRateLimiter | None = None,
        server_limiter: ServerRateLimiter | None = SHARED_SERVER_LIMITER,
        product_type: str = "USDT-FUTURES",
        margin_coin: str = "USDT",
    ) -> None:
        self.credentials = credentials
        self.base_url = base_url.rstrip("/")
        self.session = session or requests.Session()
        self.clock = clock or ServerClock()
        self.timeout = timeout
        self.max_retries = max_retries
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self.product_type = product_type
        self.margin_coin = margin_coin
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._limiter = rate_limiter or AccountRateLimiter(sleep=sleep)
        self._server_limiter = server_limiter
        self._count = 0
        self._count_lock = threading.Lock()

    @property
    def request_count(self) -> int:
        """HTTP requests sent so far by this client (including failed attempts)."""
        return self._count

    # --- transport ------------------------------------------------------------------------------------
    def _call(self, method: str, path: str, params: Mapping[str, Any], *, idempotent: bool,
              retry: bool = True) -> Any:
        """Send one logical request; the only retry loop (backoff with full jitter, one clock resync)."""
        attempt, retries, resynced = 0, 0, False
        while True:
            attempt += 1
            try:
                return self._send(method, path, params, attempt)
            except TimestampError:
                if resynced or path in PUBLIC_PATHS:
                    raise
                resynced = True
                log.warning("Bitget %s %s: timestamp rejected, resyncing the server clock", method, path)
                self.clock.resync(self._fetch_server_time)
            except RateLimitLockoutError:
                raise  # our own budget refused to send: retrying would only hammer a locked-out IP
            except RetryableError as err:
                # a 429 guarantees nothing ran; anything else may have executed a non-idempotent POST
                rate_limited = isinstance(err, RateLimitError)
                if rate_limited:
                    self._report_rate_limited()
                safe = idempotent or rate_limited
                # 429s get a longer budget: Bitget's windows are 1 s and nothing was executed
                budget = self.max_retries + RATE_LIMIT_EXTRA_RETRIES if rate_limited else self.max_retries
                if not (retry and safe and retries < budget):
                    raise
                retries += 1
                delay = self._backoff(retries)
                log.warning("Bitget %s %s failed (%s); retry %d/%d in %.2fs",
                            method, path, err, retries, budget, delay)
                self._sleep(delay)

    def _backoff(self, retry_no: int) -> float:
        """Full jitter: uniform in [0, min(cap, base * 2^(n-1))]."""
        return self._rng.uniform(0, min(self.backoff_cap, self.backoff_base * 2 ** (retry_no - 1)))

    def _send(self, method: str, path: str, params: Mapping[str, Any], attempt: int) -> Any:
        """One HTTP round trip: throttle, sign, send, parse, log one DEBUG line."""
        private = path not in PUBLIC_PATHS
        if private and self.credentials is None:
            raise AuthError("No API key configured for this account", endpoint=path)
        query, body = encode_request(method, params)
        self._throttle(path, private)
        headers = self._signed_headers(method, path, query, body) if private else dict(_BASE_HEADERS)
        url = self.base_url + path + (f"?{query}" if query else "")
        status, code, started = None, None, time.monotonic()
        with self._count_lock:
            self._count += 1
        try:
            resp = self.session.request(method, url, data=body or None, headers=headers, timeout=self.timeout)
            status = resp.status_code
            data = parse_envelope(resp, path)
            code = SUCCESS
            answered = getattr(self._server_limiter, "answered", None)
            if answered is not None:
                answered()
            return data
        except requests.RequestException as exc:
            raise network_error(exc, path) from exc
        except BitgetError as err:
            code = err.code
            raise
        finally:
            log.debug("%s %s status=%s code=%s latency_ms=%d attempt=%d", method, path, status, code,
                      (time.monotonic() - started) * 1000, attempt)

    def _report_rate_limited(self) -> None:
        """Tell the IP budget that the exchange refused with 429 (it pauses every account)."""
        report = getattr(self._server_limiter, "rate_limited", None)
        if callable(report):
            report()

    def _throttle(self, path: str, private: bool) -> None:
        """Wait for the per-IP budget, then this account's per-endpoint budget; keep the clock fresh."""
        if self._server_limiter is not None:
            try:
                self._server_limiter.acquire(public=not private)
            except BudgetExhausted as exc:
                until = datetime.fromtimestamp(exc.until, UTC).strftime("%H:%M:%S UTC")
                raise RateLimitLockoutError(f"Bitget rate limit hit: every account blocked until {until}",
                                            code="429", endpoint=path) from None
        if private:
            self._limiter.acquire(path)
            self.clock.ensure_fresh(self._fetch_server_time)

    def _signed_headers(self, method: str, path: str, query: str, body: str) -> dict[str, str]:
        """Auth headers over exactly the query/body being sent; paptrading only for demo keys."""
        creds = self.credentials
        assert creds is not None  # checked in _send before any waiting
        ts = str(self.clock.now_ms())
        headers = {**_BASE_HEADERS, "ACCESS-KEY": creds.api_key, "ACCESS-TIMESTAMP": ts,
                   "ACCESS-SIGN": sign(creds.api_secret, ts, method, path, query, body),
                   "ACCESS-PASSPHRASE": creds.passphrase}
        if creds.demo:
            headers["paptrading"] = "1"
        return headers

    def _fetch_server_time(self) -> int:
        """Server time in one attempt (used by the clock; no retries so a sync never stalls long)."""
        return _server_ms(self._call("GET", TIME_PATH, {}, idempotent=True, retry=False))

    def _get(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        return self._call("GET", path, params or {}, idempotent=True)

    def _post(self, path: str, body: Mapping[str, Any], *, idempotent: bool | None = None) -> Any:
        if idempotent is None:
            idempotent = path in _IDEMPOTENT_POSTS or bool(body.get("clientOid"))
        return self._call("POST", path, body, idempotent=idempotent)

    def _base(self, symbol: str | None = None) -> dict[str, Any]:
        """symbol/productType/marginCoin, the prefix of most mix requests."""
        return {"symbol": symbol.upper() if symbol else None, "productType": self.product_type,
                "marginCoin": self.margin_coin}

    # --- public market data ---------------------------------------------------------------------------
    def server_time(self) -> int:
        """Bitget server time in ms."""
        return _server_ms(self._get(TIME_PATH))

    def contracts(self, symbol: str | None = None) -> list[Contract]:
        """Trading rules of every contract of the product type (or one symbol)."""
        data = self._get(f"{MIX}/market/contracts", {"productType": self.product_type,
                                                      "symbol": symbol.upper() if symbol else None})
        return [Contract.from_wire(row) for row in data or []]

    def ticker(self, symbol: str) -> Ticker:
        """Last, mark and index price of one symbol."""
        path = f"{MIX}/market/ticker"
        rows = self._get(path, {"symbol": symbol.upper(), "productType": self.product_type}) or []
        if not rows:
            raise SymbolUnavailableError(f"No ticker for {symbol.upper()}", endpoint=path)
        return Ticker.from_wire(rows[0])

    def tickers(self) -> list[Ticker]:
        """Tickers of every symbol of the product type."""
        return [Ticker.from_wire(row) for row in self._get(f"{MIX}/market/tickers",
                                                            {"productType": self.product_type}) or []]

    # --- account ---------------------------------------------------------------------------------------
    def account(self, symbol: str) -> SymbolAccount:
        """Equity plus this symbol's margin mode, leverages and the account's position mode."""
        return SymbolAccount.from_wire(self._get(f"{MIX}/account/account", self._base(symbol)) or {})

    def accounts(self) -> list[AccountBalance]:
        """Futures balances, one per margin coin."""
        rows = self._get(f"{MIX}/account/accounts", {"productType": self.product_type})
        return [AccountBalance.from_wire(row) for row in rows or []]

    def usdt_account(self) -> AccountBalance:
        """The margin-coin row of accounts() (all zero when Bitget lists none)."""
        for balance in self.accounts():
            if balance.margin_coin == self.margin_coin.upper():
                return balance
        return AccountBalance.from_wire({"marginCoin": self.margin_coin})

    def set_leverage(self, symbol: str, leverage: int, hold_side: str | None = None) -> None:
        """Set leverage (hold_side only for isolated hedge mode); 'no change' counts as success."""
        body = {**self._base(symbol), "leverage": str(int(leverage)), "holdSide": hold_side}
        try:
            self._post(f"{MIX}/account/set-leverage", body)
        except BitgetError as err:
            if err.code not in NO_CHANGE_CODES:
                raise

    def set_margin_mode(self, symbol: str, margin_mode: str) -> None:
        """Set a symbol's margin mode (isolated/crossed); only possible while flat on it."""
        self._post(f"{MIX}/account/set-margin-mode", {**self._base(symbol), "marginMode": margin_mode})

    def set_position_mode(self, pos_mode: str) -> None:
        """Set one_way_mode/hedge_mode for the whole product type; only possible while flat."""
        self._post(f"{MIX}/account/set-position-mode", {"productType": self.product_type, "posMode": pos_mode})

    def key_info(self) -> KeyInfo:
        """The key's permissions, IP whitelist and trader type (also proves key and passphrase work)."""
        return KeyInfo.from_wire(self._get("/api/v2/spot/account/info") or {})

    # --- positions -------------------------------------------------------------------------------------
    def positions(self) -> list[Position]:
        """Every open position of the product type."""
        rows = self._get(f"{MIX}/position/all-position",
                         {"productType": self.product_type, "marginCoin": self.margin_coin})
        return _open_positions(rows)

    def position(self, symbol: str) -> list[Position]:
        """Open positions of one symbol (up to two in hedge mode)."""
        return _open_positions(self._get(f"{MIX}/position/single-position", self._base(symbol)))

    # --- orders ----------------------------------------------------------------------------------------
    def place_order(self, *, symbol: str, size: Decimal, side: str, margin_mode: str,
                    order_type: str = "market", trade_side: str | None = None,
                    reduce_only: bool | None = None, price: Decimal | None = None,
                    client_oid: str | None = None) -> OrderAck:
        """Place one order; retried only with a clientOid, and a duplicate clientOid returns the original."""
        if order_type == "limit" and price is None:
            raise ValueError("a limit order needs a price")
        body = {"symbol": symbol.upper(), "productType": self.product_type, "marginMode": margin_mode,
                "marginCoin": self.margin_coin, "size": wire_decimal(size),
                "price": wire_decimal(price) if price is not None else None, "side": side,
                "tradeSide": trade_side, "orderType": order_type,
                "reduceOnly": None if reduce_only is None else ("YES" if reduce_only else "NO"),
                "clientOid": client_oid}
        try:
            ack = OrderAck.from_wire(self._post(f"{MIX}/order/place-order", body))
        except DuplicateClientOidError as dup:
            if client_oid is None:
                raise
            try:
                order = self.order_detail(symbol, client_oid=client_oid)
            except OrderNotFoundError:
                raise dup from None
            log.info("Bitget place-order %s: clientOid already used, returning the existing order", symbol)
            return OrderAck(order_id=order.order_id, client_oid=order.client_oid or client_oid, replayed=True)
        if ack.order_id is None and client_oid is not None:
            # one-way: an order that made Bitget cancel older reduce-only orders may come back without orderId
            # (REFERENCE 9.1); it was placed, so find it by clientOid
            try:
                order = self.order_detail(symbol, client_oid=client_oid)
            except OrderNotFoundError:
                return ack
            return OrderAck(order_id=order.order_id, client_oid=order.client_oid or client_oid)
        return ack

    def batch_place_orders(self, symbol: str, margin_mode: str, orders: list[dict]) -> BatchResult:
        """Place up to 50 orders on one symbol; per-item failures come back in the result, not raised."""
        if not orders:
            return BatchResult(successes=(), failures=())
        if len(orders) > MAX_BATCH:
            raise ValueError(f"at most {MAX_BATCH} orders per batch")
        order_list = [{k: wire_decimal(v) if isinstance(v, Decimal) else v for k, v in o.items()
                       if v is not None} for o in orders]
        body = {**self._base(symbol), "marginMode": margin_mode, "orderList": order_list}
        idempotent = all(o.get("clientOid") for o in order_list)
        return BatchResult.from_wire(self._post(f"{MIX}/order/batch-place-order", body, idempotent=idempotent))

    def close_positions(self, symbol: str | None = None, hold_side: str | None = None) -> BatchResult:
        """Flash-close at market (everything in the product type when symbol is None); flat -> empty."""
        body = {"symbol": symbol.upper() if symbol else None, "productType": self.product_type,
                "holdSide": hold_side}
        try:
            # no clientOid: after a lost answer we cannot know if it ran, so only a 429 is retried
            return BatchResult.from_wire(self._post(f"{MIX}/order/close-positions", body, idempotent=False))
        except NoPositionError as err:
            if err.code != "22002":
                raise
            return BatchResult(successes=(), failures=())

    def cancel_order(self, symbol: str, *, order_id: str | None = None,
                     client_oid: str | None = None) -> OrderAck:
        """Cancel one open order by orderId or clientOid."""
        _require_one(order_id, client_oid)
        body = {**self._base(symbol), "orderId": order_id, "clientOid": client_oid}
        return OrderAck.from_wire(self._post(f"{MIX}/order/cancel-order", body, idempotent=True))

    def pending_orders(self, symbol: str | None = None) -> list[Order]:
        """Open (unfilled) orders, all pages."""
        params = {"productType": self.product_type, "symbol": symbol.upper() if symbol else None}
        return [Order.from_wire(row) for row in self._entrusted(f"{MIX}/order/orders-pending", params)]

    def order_detail(self, symbol: str, *, order_id: str | None = None,
                     client_oid: str | None = None) -> Order:
        """One order by orderId or clientOid."""
        _require_one(order_id, client_oid)
        params = {"symbol": symbol.upper(), "productType": self.product_type, "orderId": order_id,
                  "clientOid": client_oid}
        return Order.from_wire(self._get(f"{MIX}/order/detail", params) or {})

    def fills(self, symbol: str | None = None, start_time: int | None = None, end_time: int | None = None,
              id_less_than: str | None = None, limit: int = 100) -> FillPage:
        """One page of executions, newest first (page on with id_less_than=page.end_id)."""
        params = {"productType": self.product_type, "symbol": symbol.upper() if symbol else None,
                  "startTime": str(start_time) if start_time is not None else None,
                  "endTime": str(end_time) if end_time is not None else None,
                  "idLessThan": id_less_than, "limit": str(max(1, min(PAGE_SIZE, int(limit))))}
        return FillPage.from_wire(self._get(f"{MIX}/order/fills", params))

    # --- TP/SL -----------------------------------------------------------------------------------------
    def place_tpsl(self, *, symbol: str, plan_type: str, trigger_price: Decimal, hold_side: str,
                   trigger_type: str = "mark_price", client_oid: str | None = None,
                   size: Decimal | None = None) -> OrderAck:
        """Place one TP or SL at market on trigger; pos_profit/pos_loss cover the whole position (no size)."""
        body = {"marginCoin": self.margin_coin, "productType": self.product_type, "symbol": symbol.upper(),
                "planType": plan_type, "triggerPrice": wire_decimal(trigger_price),
                "triggerType": trigger_type, "executePrice": "0", "holdSide": hold_side,
                "size": wire_decimal(size) if size is not None and not plan_type.startswith("pos_") else None,
                "clientOid": client_oid}
        try:
            return OrderAck.from_wire(self._post(f"{MIX}/order/place-tpsl-order", body))
        except DuplicateClientOidError:
            existing = [p for p in self.pending_plans(symbol) if client_oid and p.client_oid == client_oid]
            if not existing:
                raise
            return OrderAck(order_id=existing[0].order_id, client_oid=client_oid, replayed=True)

    def modify_tpsl(self, *, symbol: str, order_id: str, trigger_price: Decimal,
                    trigger_type: str = "mark_price", size: Decimal | None = None) -> OrderAck:
        """Move a TP/SL trigger; size stays "" for position-level (pos_*) plans."""
        body = {"orderId": order_id, "marginCoin": self.margin_coin, "productType": self.product_type,
                "symbol": symbol.upper(), "triggerPrice": wire_decimal(trigger_price),
                "triggerType": trigger_type, "executePrice": "0",
                "size": wire_decimal(size) if size is not None else ""}
        return OrderAck.from_wire(self._post(f"{MIX}/order/modify-tpsl-order", body))

    def pending_plans(self, symbol: str | None = None, plan_type: str = "profit_loss") -> list[PlanOrder]:
        """Pending TP/SL (profit_loss: every kind) or trigger plans, all pages."""
        params = {"productType": self.product_type, "planType": plan_type,
                  "symbol": symbol.upper() if symbol else None}
        return [PlanOrder.from_wire(row) for row in self._entrusted(f"{MIX}/order/orders-plan-pending", params)]

    def cancel_plans(self, symbol: str, plan_type: str, order_ids: list[str]) -> BatchResult:
        """Cancel the given plans of one planType; an empty list sends nothing (it would cancel all)."""
        if not order_ids:
            return BatchResult(successes=(), failures=())
        body = {**self._base(symbol), "planType": plan_type,
                "orderIdList": [{"orderId": oid} for oid in order_ids]}
        return BatchResult.from_wire(self._post(f"{MIX}/order/cancel-plan-order", body))

    def _entrusted(self, path: str, params: Mapping[str, Any]) -> list[Mapping[str, Any]]:
        """Collect entrustedList over pages (null list -> none), following endId."""
        rows: list[Mapping[str, Any]] = []
        cursor = None
        for _ in range(MAX_PAGES):
            data = self._get(path, {**params, "idLessThan": cursor}) or {}
            page = data.get("entrustedList") or []
            rows.extend(page)
            cursor = data.get("endId")
            if len(page) < PAGE_SIZE or not cursor:
                break
        return rows


def _server_ms(data: Any) -> int:
    """data.serverTime as int; a malformed answer is an ExchangeUnavailableError, not a KeyError."""
    try:
        return int(data["serverTime"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ExchangeUnavailableError("Bitget sent no usable server time", endpoint=TIME_PATH) from exc


def _open_positions(rows: list[Mapping[str, Any]] | None) -> list[Position]:
    """Parse position rows, dropping zero-size placeholders."""
    positions = (Position.from_wire(row) for row in rows or [])
    return [p for p in positions if p.total > 0]


def _require_one(order_id: str | None, client_oid: str | None) -> None:
    if not (order_id or client_oid):
        raise ValueError("pass order_id or client_oid")
