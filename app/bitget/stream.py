"""Bitget's private WebSocket v2 (REFERENCE section 13): one logged-in connection and the push parsers.

`PrivateConnection` does the protocol only: connect, log in (seconds timestamp, HMAC over
"timestamp GET /user/verify"), subscribe with acks, text ping/pong, and hand over each push as a `Push`.
Reconnecting, backoff and what a push means for copying live in app.feeds.master_feed.
"""
from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI
from websockets.sync.client import ClientConnection, connect

from .errors import BitgetError
from .models import Position, dec, ms, opt_dec, opt_str
from .signing import sign_ws_login

LIVE_URL = "wss://ws.bitget.com/v2/ws/private"
DEMO_URL = "wss://wspap.bitget.com/v2/ws/private"
INST_TYPE = "USDT-FUTURES"
CHANNELS = ("positions", "orders", "orders-algo", "account")
# orders-algo's short planType codes and the REST names the copier uses (REFERENCE 13.6)
PLAN_TYPES = {"ptp": "pos_profit", "psl": "pos_loss", "tp": "profit_plan", "sl": "loss_plan",
              "mtpsl": "moving_plan", "pl": "normal_plan", "track": "track_plan"}
LIVE_PLAN_STATES = frozenset({"live", "executing"})


class StreamError(BitgetError):
    """The private stream cannot be used: connection refused, closed, or a protocol error."""


class StreamLoginError(StreamError):
    """Bitget refused the login (30005 and friends): wrong key, passphrase, clock or a UTA account."""


@dataclass(frozen=True)
class Push:
    """One data message: its channel, the rows, Bitget's ts (ms) and when it arrived (time.time())."""

    channel: str
    action: str
    data: tuple[Mapping[str, Any], ...]
    ts: int | None
    received_at: float


@dataclass(frozen=True)
class PlanUpdate:
    """One row of `orders-algo`: a plan or TP/SL order as it is now."""

    order_id: str
    client_oid: str | None
    symbol: str
    plan_type: str  # REST name: pos_profit, pos_loss, profit_plan, ...
    trigger_price: Decimal | None
    pos_side: str  # long | short | net
    status: str

    @property
    def live(self) -> bool:
        """Still resting (not cancelled, executed or failed)."""
        return self.status in LIVE_PLAN_STATES


@dataclass(frozen=True)
class OrderUpdate:
    """One row of `orders`: an order's status and cumulative fill."""

    order_id: str
    client_oid: str | None
    symbol: str
    status: str
    side: str
    trade_side: str
    pos_side: str
    size: Decimal
    filled: Decimal
    price_avg: Decimal | None
    reduce_only: bool
    fill_time: int | None
    u_time: int | None


def parse_position(row: Mapping[str, Any]) -> Position:
    """A `positions` row as the REST Position (instId -> symbol, frozen -> locked; no TP/SL fields here)."""
    return Position.from_wire({**row, "symbol": row.get("instId") or row.get("symbol", ""),
                               "locked": row.get("frozen", row.get("locked")),
                               "leverage": str(row.get("leverage", "1")),
                               "takeProfit": None, "stopLoss": None, "takeProfitId": None, "stopLossId": None})


def parse_plan(row: Mapping[str, Any]) -> PlanUpdate:
    """An `orders-algo` row (short planType codes mapped to the REST names)."""
    code = str(row.get("planType", ""))
    return PlanUpdate(
        order_id=str(row["orderId"]), client_oid=opt_str(row.get("clientOid")),
        symbol=str(row.get("instId", "")).upper(), plan_type=PLAN_TYPES.get(code, code),
        trigger_price=opt_dec(row.get("triggerPrice")), pos_side=str(row.get("posSide", "")).lower(),
        status=str(row.get("status", "")).lower())


def parse_order(row: Mapping[str, Any]) -> OrderUpdate:
    """An `orders` row (reduceOnly is lower-case yes/no on the stream)."""
    return OrderUpdate(
        order_id=str(row["orderId"]), client_oid=opt_str(row.get("clientOid")),
        symbol=str(row.get("instId", "")).upper(), status=str(row.get("status", "")).lower(),
        side=str(row.get("side", "")), trade_side=str(row.get("tradeSide", "")),
        pos_side=str(row.get("posSide", "")), size=dec(row.get("size")), filled=dec(row.get("accBaseVolume")),
        price_avg=opt_dec(row.get("priceAvg")), reduce_only=str(row.get("reduceOnly", "")).lower() == "yes",
        fill_time=ms(row.get("fillTime")), u_time=ms(row.get("uTime")))


def parse_equity(row: Mapping[str, Any]) -> Decimal | None:
    """The USDT equity of an `account` row (None when the row is not USDT)."""
    if str(row.get("marginCoin", "USDT")).upper() != "USDT":
        return None
    return opt_dec(row.get("usdtEquity")) or opt_dec(row.get("equity"))


def login_message(api_key: str, secret: str, passphrase: str, now: float) -> dict[str, Any]:
    """The login op: a seconds timestamp signed with the secret (REFERENCE 13.2)."""
    stamp = str(int(now))
    return {"op": "login", "args": [{"apiKey": api_key, "passphrase": passphrase, "timestamp": stamp,
                                     "sign": sign_ws_login(secret, stamp)}]}


def subscribe_message(channels: tuple[str, ...] = CHANNELS) -> dict[str, Any]:
    """Subscribe every channel for all USDT-M symbols (`account` takes coin instead of instId)."""
    return {"op": "subscribe", "args": [
        {"instType": INST_TYPE, "channel": c, **({"coin": "default"} if c == "account" else {"instId": "default"})}
        for c in channels]}


class PrivateConnection:
    """One private connection for one API key: open() logs in and subscribes; recv() yields pushes."""

    def __init__(self, url: str, api_key: str, secret: str, passphrase: str, *,
                 channels: tuple[str, ...] = CHANNELS, timeout: float = 10.0,
                 clock: Callable[[], float] = time.time, source_address: str | None = None) -> None:
        self.url = url
        self.source_address = source_address  # EGRESS_SOURCE_ADDRESS: the connection leaves from it
        self._key, self._secret, self._passphrase = api_key, secret, passphrase
        self.channels = channels
        self.timeout = timeout
        self.clock = clock
        self._conn: ClientConnection | None = None
        self.last_pong = 0.0

    def open(self) -> list[Push]:
        """Connect, log in, subscribe; returns the pushes that arrived while waiting for the acks."""
        try:
            bind = {"source_address": (self.source_address, 0)} if self.source_address else {}
            self._conn = connect(self.url, open_timeout=self.timeout, close_timeout=2, max_size=4_000_000,
                                 compression=None, ping_interval=None, **bind)
        except (OSError, InvalidHandshake, InvalidURI, TimeoutError) as exc:
            raise StreamError(f"cannot connect to {self.url}: {exc}") from None
        self.last_pong = time.monotonic()
        self._send(login_message(self._key, self._secret, self._passphrase, self.clock()))
        self._await(lambda m: m.get("event") == "login", "login")
        self._send(subscribe_message(self.channels))
        early: list[Push] = []
        waiting = set(self.channels)
        deadline = time.monotonic() + self.timeout
        while waiting:
            message = self._recv_json(deadline - time.monotonic(), "the subscribe acks")
            if message.get("event") == "subscribe":
                waiting.discard(str((message.get("arg") or {}).get("channel")))
            elif message.get("event") == "error":
                raise StreamError(f"subscribe refused: {message.get('code')} {message.get('msg', '')}".strip())
            elif "data" in message:
                early.append(self._push(message))
        return early

    def recv(self, timeout: float) -> Push | None:
        """The next push, or None when only a pong (or nothing) arrived within `timeout` seconds."""
        conn = self._require()
        try:
            text = conn.recv(timeout=max(0.0, timeout))
        except TimeoutError:
            return None
        except ConnectionClosed as exc:
            raise StreamError(f"connection closed by the server ({_close_reason(exc)})") from None
        if text == "pong":
            self.last_pong = time.monotonic()
            return None
        message = _decode(text)
        if message.get("event") == "error":
            raise StreamError(f"stream error {message.get('code')}: {message.get('msg', '')}".strip())
        if "data" not in message:
            return None  # an ack or notice
        return self._push(message)

    def ping(self) -> None:
        """Send Bitget's text heartbeat."""
        try:
            self._require().send("ping")
        except ConnectionClosed as exc:
            raise StreamError(f"connection closed by the server ({_close_reason(exc)})") from None

    def close(self) -> None:
        """Close the connection (idempotent)."""
        if self._conn is not None:
            try:
                self._conn.close()
            except Exception:
                pass
            self._conn = None

    # ----- internals

    def _require(self) -> ClientConnection:
        if self._conn is None:
            raise StreamError("not connected")
        return self._conn

    def _send(self, message: dict[str, Any]) -> None:
        try:
            self._require().send(json.dumps(message))
        except ConnectionClosed as exc:
            raise StreamError(f"connection closed by the server ({_close_reason(exc)})") from None

    def _recv_json(self, timeout: float, waiting_for: str) -> dict[str, Any]:
        conn = self._require()
        try:
            text = conn.recv(timeout=max(0.0, timeout))
        except TimeoutError:
            raise StreamError(f"no answer to {waiting_for} within {self.timeout:g} s") from None
        except ConnectionClosed as exc:
            raise StreamError(f"connection closed while waiting for {waiting_for} ({_close_reason(exc)})") from None
        return {} if text == "pong" else _decode(text)

    def _await(self, done: Callable[[dict[str, Any]], bool], what: str) -> dict[str, Any]:
        deadline = time.monotonic() + self.timeout
        while True:
            message = self._recv_json(deadline - time.monotonic(), what)
            if message.get("event") == "error":
                code = message.get("code")
                text = f"login refused: {code} {message.get('msg', '')}".strip()
                raise (StreamLoginError if what == "login" else StreamError)(text)
            if done(message):
                if what == "login" and str(message.get("code", "0")) != "0":
                    raise StreamLoginError(f"login refused: {message.get('code')} {message.get('msg', '')}".strip())
                return message

    def _push(self, message: dict[str, Any]) -> Push:
        arg = message.get("arg") or {}
        data = message.get("data") or []
        ts = message.get("ts")
        return Push(channel=str(arg.get("channel", "")), action=str(message.get("action", "snapshot")),
                    data=tuple(row for row in data if isinstance(row, Mapping)),
                    ts=int(ts) if isinstance(ts, (int, str)) and str(ts).isdigit() else None,
                    received_at=time.time())


def _decode(text: Any) -> dict[str, Any]:
    try:
        message = json.loads(text)
    except (TypeError, ValueError):
        raise StreamError(f"not JSON from the stream: {str(text)[:80]!r}") from None
    if not isinstance(message, dict):
        raise StreamError(f"unexpected message from the stream: {str(text)[:80]!r}")
    return message


def _close_reason(exc: ConnectionClosed) -> str:
    frame = exc.rcvd or exc.sent
    if frame is None:
        return "no close frame"
    return f"code {frame.code}" + (f", {frame.reason}" if frame.reason else "")
