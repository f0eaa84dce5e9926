"""Bitget's private WebSocket v2 (REFERENCE section 13) for the simulator: login, subscribe, pushes, faults.

One server thread accepts connections on its own port at /v2/ws/private; each connection has a handler
thread (login, subscribe, ping) and a sender thread (pushes, so a slow or delayed socket holds up no one).
One pusher thread wakes on every change of the exchange, reads each logged-in account's positions, orders
and plans under the exchange lock, and queues a push to every connection whose view of them changed:
`positions` and `account` as full snapshots, `orders` and `orders-algo` with the orders that changed.
"""
from __future__ import annotations

import hmac
import json
import logging
import queue
import threading
import time
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from websockets.exceptions import ConnectionClosed
from websockets.sync.server import Server, ServerConnection, serve

from app.bitget.signing import sign_ws_login

from .contracts import MARGIN_COIN
from .numbers import fmt, now_ms
from .state import HEDGE, Account, Order, Plan

if TYPE_CHECKING:
    from .exchange import Exchange

log = logging.getLogger(__name__)

PATH = "/v2/ws/private"
INST_TYPE = "USDT-FUTURES"
CHANNELS = ("positions", "orders", "orders-algo", "account")
LOGIN_WINDOW_S = 30
PLAN_CODES = {"pos_profit": "ptp", "pos_loss": "psl", "profit_plan": "tp", "loss_plan": "sl",
              "moving_plan": "mtpsl"}
# fields of a position that make a push: not the mark price or PnL, which move with every tick
_POSITION_KEYS = ("instId", "holdSide", "total", "available", "frozen", "openPriceAvg", "leverage", "marginMode",
                  "marginSize", "achievedProfits", "cTime")


@dataclass
class WsFaults:
    """What a test or the operator injects into the private stream (REST faults live in faults.py)."""

    push_delay_ms: int = 0  # every push is sent this much later
    lose_pushes: int = 0  # the next N pushes are dropped silently
    refuse_logins: bool = False  # every login answers 30005 and the connection is closed
    max_lifetime_s: float = 86_400.0  # Bitget closes every connection after 24 h
    idle_timeout_s: float = 120.0  # no `ping` for this long closes the connection

    def to_json(self) -> dict[str, Any]:
        """The settings as the admin endpoint shows them."""
        return {"push_delay_ms": self.push_delay_ms, "lose_pushes": self.lose_pushes,
                "refuse_logins": self.refuse_logins, "max_lifetime_s": self.max_lifetime_s,
                "idle_timeout_s": self.idle_timeout_s}


def _peer_ip(conn: ServerConnection) -> str:
    """The source address a connection came from ("" once it is gone)."""
    try:
        return str(conn.remote_address[0])
    except (OSError, TypeError, IndexError):
        return ""


@dataclass(eq=False)
class Session:
    """One connection: who logged in, what it subscribed, and what it was last told."""

    conn: ServerConnection
    opened: float = field(default_factory=time.monotonic)
    account: str | None = None
    channels: dict[str, dict[str, str]] = field(default_factory=dict)  # channel -> its subscribe arg
    outbox: queue.Queue = field(default_factory=queue.Queue)  # (due monotonic, text) or None to stop
    seen_positions: Any = None
    seen_account: Any = None
    seen_orders: dict[str, tuple[str, str]] = field(default_factory=dict)  # live order id -> (status, filled)
    seen_plans: dict[str, tuple[tuple[str, str, str], Plan]] = field(default_factory=dict)  # id -> (state, plan)
    orders_scanned_ms: int = 0


class PrivateStream:
    """The simulator's private WebSocket server (start/stop, .url, .faults, .drop_all(), .status())."""

    def __init__(self, exchange: Exchange, host: str = "127.0.0.1", port: int = 0,
                 faults: WsFaults | None = None) -> None:
        self.exchange = exchange
        self.faults = faults or WsFaults()
        self._sessions: set[Session] = set()
        self._guard = threading.Lock()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self.pushes_sent = 0
        self.pushes_lost = 0
        self.logins = 0
        self.logins_refused = 0
        self._server: Server = serve(self._handle, host, port, process_request=self._check_path,
                                     max_size=65_536, compression=None)
        self.host, self.port = self._server.socket.getsockname()[:2]
        self.url = f"ws://{self.host}:{self.port}{PATH}"
        self._threads = [threading.Thread(target=self._server.serve_forever, name="sim-ws", daemon=True),
                         threading.Thread(target=self._push_loop, name="sim-ws-push", daemon=True)]
        exchange.listeners.append(self._wake.set)

    def start(self) -> PrivateStream:
        """Accept connections and push changes."""
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> None:
        """Close every connection and stop serving."""
        if self._stopping.is_set():
            return
        self._stopping.set()
        self._wake.set()
        if self._wake.set in self.exchange.listeners:
            self.exchange.listeners.remove(self._wake.set)
        self.drop_all()
        self._server.shutdown()

    # ----- operator and test controls

    def configure(self, changes: dict[str, Any]) -> dict[str, Any]:
        """Change fault settings ({push_delay_ms, lose_pushes, refuse_logins, max_lifetime_s, idle_timeout_s});
        {"drop": true} closes every connection now. Returns the settings."""
        known = set(self.faults.to_json()) | {"drop"}
        unknown = sorted(set(changes) - known)
        if unknown:
            raise ValueError(f"unknown WebSocket fault setting(s): {', '.join(unknown)}")
        for name in ("push_delay_ms", "lose_pushes"):
            if name in changes:
                value = int(changes[name])
                if value < 0:
                    raise ValueError(f"{name} must not be negative")
                setattr(self.faults, name, value)
        for name in ("max_lifetime_s", "idle_timeout_s"):
            if name in changes:
                value = float(changes[name])
                if value <= 0:
                    raise ValueError(f"{name} must be positive")
                setattr(self.faults, name, value)
        if "refuse_logins" in changes:
            self.faults.refuse_logins = bool(changes["refuse_logins"])
        if changes.get("drop"):
            self.drop_all()
        return self.status()

    def reset(self) -> None:
        """Default fault settings, no connections, counters at zero."""
        self.faults = WsFaults()
        self.drop_all()
        self.pushes_sent = self.pushes_lost = self.logins = self.logins_refused = 0

    def drop_all(self) -> int:
        """Close every connection at once (as Bitget's deploy window does); returns how many."""
        with self._guard:
            sessions = list(self._sessions)
        for session in sessions:
            session.outbox.put(None)
            try:
                session.conn.close(1001, "server going away")
            except Exception:  # already closed
                pass
        return len(sessions)

    def status(self) -> dict[str, Any]:
        """Connections, counters and fault settings."""
        with self._guard:
            accounts = sorted(s.account for s in self._sessions if s.account)
            peers = sorted([s.account, _peer_ip(s.conn)] for s in self._sessions if s.account)
            count = len(self._sessions)
        return {"url": self.url, "connections": count, "logged_in": accounts, "logged_in_from": peers, "pushes_sent": self.pushes_sent,
                "pushes_lost": self.pushes_lost, "logins": self.logins, "logins_refused": self.logins_refused,
                **self.faults.to_json()}

    # ----- one connection

    @staticmethod
    def _check_path(connection: ServerConnection, request: Any) -> Any:
        if request.path.split("?", 1)[0] != PATH:
            return connection.respond(404, f"no WebSocket here: use {PATH}\n")
        return None

    def _handle(self, conn: ServerConnection) -> None:
        session = Session(conn)
        with self._guard:
            self._sessions.add(session)
        sender = threading.Thread(target=self._send_loop, args=(session,), name="sim-ws-send", daemon=True)
        sender.start()
        last_ping = time.monotonic()
        try:
            while not self._stopping.is_set():
                now = time.monotonic()
                deadline = min(last_ping + self.faults.idle_timeout_s, session.opened + self.faults.max_lifetime_s)
                if now >= deadline:
                    reason = "no ping for too long" if now >= last_ping + self.faults.idle_timeout_s \
                        else "connection lifetime reached"
                    conn.close(1000, reason)
                    break
                try:
                    text = conn.recv(timeout=min(1.0, deadline - now))
                except TimeoutError:
                    continue
                if text == "ping":
                    last_ping = time.monotonic()
                    self._send_now(session, "pong")
                    continue
                self._on_message(session, text)
        except ConnectionClosed:
            pass
        finally:
            session.outbox.put(None)
            with self._guard:
                self._sessions.discard(session)

    def _on_message(self, session: Session, text: Any) -> None:
        try:
            message = json.loads(text)
            op, args = message["op"], message["args"]
            if not isinstance(args, list) or not args:
                raise ValueError
        except (ValueError, KeyError, TypeError):
            self._send_now(session, {"event": "error", "code": 30002, "msg": "Illegal request"})
            return
        if op == "login":
            self._login(session, args[0])
        elif op == "subscribe":
            if session.account is None:
                self._send_now(session, {"event": "error", "code": 30004, "msg": "User needs to log in"})
                return
            for arg in args:
                self._subscribe(session, arg)
        elif op == "unsubscribe":
            for arg in args:
                if isinstance(arg, dict) and session.channels.pop(str(arg.get("channel")), None) is not None:
                    self._send_now(session, {"event": "unsubscribe", "arg": arg})
        else:
            self._send_now(session, {"event": "error", "code": 30003, "msg": "Invalid op"})

    def _login(self, session: Session, arg: Any) -> None:
        reason = self._login_problem(arg)
        if reason is None:
            self.logins += 1
            session.account = self.exchange.account_for_key(str(arg["apiKey"])).name  # type: ignore[union-attr]
            self._send_now(session, {"event": "login", "code": 0})
            return
        self.logins_refused += 1
        self._send_now(session, {"event": "error", "code": 30005, "msg": reason})
        session.outbox.put(None)  # the error goes out first, then the sender closes the connection

    def _login_problem(self, arg: Any) -> str | None:
        if self.faults.refuse_logins:
            return "Login failed"
        if not isinstance(arg, dict):
            return "Illegal request"
        acc = self.exchange.account_for_key(str(arg.get("apiKey", "")))
        if acc is None:
            return "apiKey does not exist"
        if not hmac.compare_digest(str(arg.get("passphrase", "")).encode(), acc.passphrase.encode()):
            return "Passphrase error"
        stamp = str(arg.get("timestamp", ""))
        if not stamp.isdigit() or abs(int(stamp) - time.time()) > LOGIN_WINDOW_S:
            return "Request timestamp expired"  # a milliseconds stamp lands here too
        if not hmac.compare_digest(sign_ws_login(acc.api_secret, stamp).encode(), str(arg.get("sign", "")).encode()):
            return "Invalid sign"
        return None

    def _subscribe(self, session: Session, arg: Any) -> None:
        if not isinstance(arg, dict) or arg.get("instType") != INST_TYPE or arg.get("channel") not in CHANNELS:
            self._send_now(session, {"event": "error", "code": 30001,
                                     "msg": f"instType:{(arg or {}).get('instType') if isinstance(arg, dict) else ''}"
                                            f",channel:{arg.get('channel') if isinstance(arg, dict) else ''} "
                                            "doesn't exist"})
            return
        channel = str(arg["channel"])
        target = "coin" if channel == "account" else "instId"
        if channel == "positions" and arg.get(target) != "default":
            self._send_now(session, {"event": "error", "code": 30001, "msg": "positions takes instId default"})
            return
        clean = {"instType": INST_TYPE, "channel": channel, target: str(arg.get(target, "default"))}
        self._send_now(session, {"event": "subscribe", "arg": clean})
        with self.exchange.lock:  # the snapshot is queued before any later push of the pusher thread
            acc = self.exchange.account(session.account)  # type: ignore[arg-type]
            views = self._views(acc, session, full=True)
            session.channels[channel] = clean
            self._queue_push(session, channel, views[channel])

    # ----- pushes

    def _push_loop(self) -> None:
        while not self._stopping.is_set():
            self._wake.wait()
            self._wake.clear()
            if self._stopping.is_set():
                return
            with self._guard:
                sessions = [s for s in self._sessions if s.account and s.channels]
            for session in sessions:
                try:
                    with self.exchange.lock:
                        acc = self.exchange.accounts.get(session.account)  # type: ignore[arg-type]
                        if acc is None:
                            continue
                        views = self._views(acc, session, full=False)
                        for channel in list(session.channels):
                            if views.get(channel) is not None:
                                self._queue_push(session, channel, views[channel])
                except Exception:
                    log.exception("WebSocket push to %s failed", session.account)

    def _views(self, acc: Account, session: Session, *, full: bool) -> dict[str, list[dict[str, Any]] | None]:
        """Per channel the data to push now (None: nothing changed); `full` = the snapshot after subscribe."""
        ex = self.exchange
        positions = [ws_position(row) for row in ex.positions_view(acc)]
        pos_key = [tuple(row[k] for k in _POSITION_KEYS) for row in positions]
        balance = ex.accounts_view(acc)[0]
        account = [{"marginCoin": MARGIN_COIN, "frozen": balance["locked"], "available": balance["available"],
                    "maxOpenPosAvailable": balance["available"], "maxTransferOut": balance["maxTransferOut"],
                    "equity": balance["accountEquity"], "usdtEquity": balance["usdtEquity"],
                    "crossedRiskRate": balance["crossedRiskRate"], "unrealizedPL": balance["unrealizedPL"],
                    "unionTotalMargin": "0", "unionAvailable": "0", "unionMm": "0", "assetsMode": "single"}]
        # the balance moves with the mark price: push it when money moved, not on every tick
        acct_key = (balance["available"], balance["locked"], tuple(pos_key))
        views: dict[str, list[dict[str, Any]] | None] = {
            "positions": positions if full or pos_key != session.seen_positions else None,
            "account": account if full or acct_key != session.seen_account else None,
            "orders": self._order_changes(acc, session, full),
            "orders-algo": self._plan_changes(acc, session, full),
        }
        session.seen_positions, session.seen_account = pos_key, acct_key
        return views

    def _order_changes(self, acc: Account, session: Session, full: bool) -> list[dict[str, Any]] | None:
        now = now_ms()
        since = session.orders_scanned_ms - 2_000
        candidates: dict[str, Order] = dict(acc.live_orders)
        for order_id in session.seen_orders:
            if order_id in acc.orders:
                candidates[order_id] = acc.orders[order_id]
        if not full:
            for order in reversed(acc.orders.values()):
                if order.u_time < since and order.c_time < since:
                    break
                candidates[order.order_id] = order
        changed = []
        for order in candidates.values():
            state = (order.status, fmt(order.filled))
            if full or session.seen_orders.get(order.order_id) != state:
                changed.append(ws_order(order))
        session.seen_orders = {o.order_id: (o.status, fmt(o.filled)) for o in acc.live_orders.values()}
        session.orders_scanned_ms = now
        if full:
            return changed  # the snapshot: live orders (maybe none)
        return changed or None

    def _plan_changes(self, acc: Account, session: Session, full: bool) -> list[dict[str, Any]] | None:
        now = {p.plan_id: ((fmt(p.trigger_price), fmt(p.size), str(p.u_time)), p) for p in acc.plans.values()}
        changed = []
        for plan_id, (state, plan) in now.items():
            seen = session.seen_plans.get(plan_id)
            if full or seen is None or seen[0] != state:
                changed.append(ws_plan(acc, plan, "live"))
        for plan_id in set(session.seen_plans) - set(now):
            # a plan that left the book: executed when its position is gone with it, else cancelled
            plan = session.seen_plans[plan_id][1]
            held = acc.positions.get((plan.symbol, plan.hold_side))
            changed.append(ws_plan(acc, plan, "executed" if held is None else "cancelled"))
        session.seen_plans = now
        if full:
            return changed
        return changed or None

    def _queue_push(self, session: Session, channel: str, data: list[dict[str, Any]]) -> None:
        arg = session.channels.get(channel)
        if arg is None:
            return
        if self.faults.lose_pushes > 0:
            self.faults.lose_pushes -= 1
            self.pushes_lost += 1
            return
        message = {"action": "snapshot", "arg": arg, "data": data, "ts": now_ms()}
        session.outbox.put((time.monotonic() + self.faults.push_delay_ms / 1000, json.dumps(message)))

    def _send_now(self, session: Session, message: dict[str, Any] | str) -> None:
        text = message if isinstance(message, str) else json.dumps(message)
        session.outbox.put((0.0, text))

    def _send_loop(self, session: Session) -> None:
        while True:
            item = session.outbox.get()
            if item is None:
                break
            due, text = item
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            try:
                session.conn.send(text)
            except ConnectionClosed:
                return
            if text.startswith('{"action"'):
                self.pushes_sent += 1
        try:
            session.conn.close(1000, "closed by the server")
        except Exception:
            pass


def ws_position(row: dict[str, Any]) -> dict[str, Any]:
    """A REST all-position row in the `positions` channel's shape (instId, frozen, a number leverage)."""
    return {
        "posId": f"{row['symbol']}-{row['holdSide']}-{row['cTime']}", "instId": row["symbol"],
        "marginCoin": row["marginCoin"], "marginSize": row["marginSize"], "marginMode": row["marginMode"],
        "holdSide": row["holdSide"], "posMode": row["posMode"], "total": row["total"],
        "available": row["available"], "frozen": row["locked"], "openPriceAvg": row["openPriceAvg"],
        "leverage": int(Decimal(row["leverage"])), "achievedProfits": row["achievedProfits"],
        "unrealizedPL": row["unrealizedPL"],
        "unrealizedPLR": fmt(Decimal(row["unrealizedPL"]) / Decimal(row["marginSize"]))
        if Decimal(row["marginSize"]) else "0",
        "liquidationPrice": row["liquidationPrice"], "keepMarginRate": row["keepMarginRate"],
        "marginRate": row["marginRatio"], "breakEvenPrice": row["breakEvenPrice"], "totalFee": row["totalFee"],
        "deductedFee": row["deductedFee"], "markPrice": row["markPrice"], "assetMode": row["assetMode"],
        "autoMargin": row["autoMargin"], "cTime": row["cTime"], "uTime": row["uTime"],
    }


def ws_order(order: Order) -> dict[str, Any]:
    """One order in the `orders` channel's shape (reduceOnly lower case, posSide net in one-way)."""
    hedge = order.pos_mode == HEDGE
    return {
        "orderId": order.order_id, "clientOid": order.client_oid, "instId": order.symbol,
        "size": fmt(order.size), "price": fmt(order.price) if order.price is not None else "0",
        "side": order.side, "posSide": order.hold_side if hedge else "net",
        "tradeSide": ("close" if order.reduce else "open") if hedge else f"{order.side}_single",
        "posMode": order.pos_mode, "orderType": order.order_type, "force": order.force,
        "marginMode": order.margin_mode, "marginCoin": MARGIN_COIN, "leverage": str(order.leverage),
        "status": order.status, "accBaseVolume": fmt(order.filled),
        "priceAvg": fmt(order.price_avg) if order.price_avg is not None else "",
        "fillFee": fmt(-order.fee), "fillFeeCoin": MARGIN_COIN,
        "feeDetail": [{"feeCoin": MARGIN_COIN, "fee": fmt(-order.fee)}], "pnl": fmt(order.profit),
        "totalProfits": fmt(order.profit), "reduceOnly": "yes" if order.reduce_only_flag else "no",
        "presetStopSurplusPrice": fmt(order.preset_tp) if order.preset_tp else "",
        "presetStopLossPrice": fmt(order.preset_sl) if order.preset_sl else "",
        "enterPointSource": order.entry_point, "cancelReason": order.cancel_reason, "stpMode": "none",
        "cTime": str(order.c_time), "uTime": str(order.u_time),
    }


def ws_plan(acc: Account, plan: Plan, status: str) -> dict[str, Any]:
    """One TP/SL plan in the `orders-algo` channel's shape (short planType codes)."""
    profit = plan.plan_type in ("pos_profit", "profit_plan")
    trigger = fmt(plan.trigger_price)
    return {
        "instId": plan.symbol, "orderId": plan.plan_id, "clientOid": plan.client_oid, "triggerPrice": trigger,
        "triggerType": plan.trigger_type, "triggerTime": "", "planType": PLAN_CODES.get(plan.plan_type, plan.plan_type),
        "price": "", "executePrice": fmt(plan.execute_price), "size": fmt(plan.size), "actualSize": "0",
        "orderType": "limit" if plan.execute_price > 0 else "market",
        "side": "buy" if plan.hold_side == "long" else "sell", "tradeSide": "close",
        "posSide": plan.hold_side if acc.pos_mode == HEDGE else "net", "marginCoin": MARGIN_COIN,
        "status": status, "posMode": acc.pos_mode, "enterPointSource": plan.entry_point,
        "stopSurplusTriggerType": plan.trigger_type if profit else "",
        "stopSurplusTriggerPrice": trigger if profit else "", "stopSurplusPrice": "",
        "stopLossTriggerType": "" if profit else plan.trigger_type,
        "stopLossTriggerPrice": "" if profit else trigger, "stopLossPrice": "",
        "stpMode": "none", "cTime": str(plan.c_time), "uTime": str(plan.u_time),
    }
