"""The master's private WebSocket: what it holds, pushed as it changes, with REST as the reconciler.

Three parts, each small:
- `MasterBook` keeps the master's positions, TP/SL plans and equity as the latest fact from either source:
  a push, or a REST read whose request left after the last push.
- `Follower` is one worker thread that runs what was asked, coalesced: a REST reconcile (after every
  (re)connect) and a run from the book (after a push that changed what matters). Pushes that arrive during
  a run ask once more; the next run starts as soon as this one ends, never one per push.
- `MasterFeed` is the connection's thread: connect, log in, subscribe, ping every WS_PING_SECONDS, reconnect
  with backoff and jitter when the pong is missing or the connection closes. A login refused is shown,
  alerted once (watchdog) and retried slowly; meanwhile the poller polls at POLL_INTERVAL_SECONDS.
"""
from __future__ import annotations

import dataclasses
import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from urllib.parse import urlparse

from flask import Flask

from ..bitget.models import Position
from ..bitget.stream import (
    DEMO_URL,
    LIVE_URL,
    PlanUpdate,
    PrivateConnection,
    Push,
    StreamError,
    StreamLoginError,
    parse_equity,
    parse_plan,
    parse_position,
)
from ..engine.replication.state import MasterState

log = logging.getLogger(__name__)
BITGET_REST_HOST = "api.bitget.com"
PONG_TIMEOUT_S = 10.0
BACKOFF_MIN_S, BACKOFF_MAX_S = 1.0, 60.0
KEY_CHECK_S = 5.0  # how often the connection checks that the master and its keys are still the same
LOGIN_RETRY_S = (15.0, 300.0)  # a refused login is retried slowly (15 s doubling to 5 min): keys rarely fix themselves


# ----- the book -------------------------------------------------------------------------------------------

class MasterBook:
    """The master as the stream (or a newer REST read) says it is; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._positions: dict[tuple[str, str], Position] | None = None
        self.clear()

    def clear(self) -> None:
        """Forget everything (a new connection starts from its snapshot)."""
        with self._lock:
            self._positions = None
            self._plans: dict[str, PlanUpdate] = {}
            self._equity: Decimal | None = None
            self._pushed_at = 0.0  # time.time() of the last positions/orders-algo push

    def apply(self, push: Push) -> bool:
        """Take one push; True when it changed size or TP/SL of some position (what copying follows)."""
        with self._lock:
            before = self._signature()
            if push.channel == "positions":
                fresh = (parse_position(row) for row in push.data)
                self._positions = {p.key: p for p in fresh if p.total > 0}
                self._pushed_at = push.received_at
            elif push.channel == "orders-algo":
                for row in push.data:
                    plan = parse_plan(row)
                    if plan.live:
                        self._plans[plan.order_id] = plan
                    else:
                        self._plans.pop(plan.order_id, None)
                self._pushed_at = push.received_at
            elif push.channel == "account":
                for row in push.data:
                    equity = parse_equity(row)
                    if equity is not None:
                        self._equity = equity
            return self._positions is not None and self._signature() != before

    def absorb_rest(self, state: MasterState, request_sent_at: float) -> None:
        """A REST read replaces the book unless a push arrived after its request left (that push is newer)."""
        with self._lock:
            self._equity = state.equity
            if self._pushed_at > request_sent_at:
                return
            self._positions = {p.key: p for p in state.positions}
            self._plans = {}
            for p in state.positions:
                side = p.hold_side if p.pos_mode == "hedge_mode" else "net"
                for kind, price, order_id in (("pos_profit", p.take_profit, p.take_profit_id),
                                              ("pos_loss", p.stop_loss, p.stop_loss_id)):
                    if order_id:
                        self._plans[order_id] = PlanUpdate(order_id, None, p.symbol, kind, price, side, "live")

    def state(self) -> MasterState | None:
        """Positions with their position TP/SL, and equity; None until both a snapshot and an equity are known."""
        with self._lock:
            if self._positions is None or self._equity is None:
                return None
            return MasterState(equity=self._equity, positions=tuple(self._with_tpsl(p) for p in
                                                                     sorted(self._positions.values(),
                                                                            key=lambda p: p.key)))

    @property
    def ready(self) -> bool:
        """A positions snapshot arrived since the last clear."""
        with self._lock:
            return self._positions is not None

    def _with_tpsl(self, position: Position) -> Position:
        tp = sl = None
        for plan in self._plans.values():
            if plan.symbol != position.symbol or plan.pos_side not in (position.hold_side, "net", ""):
                continue
            if plan.plan_type == "pos_profit":
                tp = plan
            elif plan.plan_type == "pos_loss":
                sl = plan
        return dataclasses.replace(
            position, take_profit=tp.trigger_price if tp else None, stop_loss=sl.trigger_price if sl else None,
            take_profit_id=tp.order_id if tp else None, stop_loss_id=sl.order_id if sl else None)

    def _signature(self) -> dict[tuple[str, str], tuple]:
        if self._positions is None:
            return {}
        return {key: (p.total, q.take_profit, q.stop_loss)
                for key, p in self._positions.items() for q in [self._with_tpsl(p)]}


# ----- the worker that runs what pushes ask for ------------------------------------------------------------

class Follower:
    """One thread; `reconcile()` asks for a REST pass, `follow(detected_at)` for a run from the book."""

    def __init__(self, rest_pass: Callable[[], None], book_pass: Callable[[float | None], None]) -> None:
        self._rest_pass, self._book_pass = rest_pass, book_pass
        self._cond = threading.Condition()
        self._rest: list[Callable[[], None]] = []  # callbacks after the REST pass (at least one entry = wanted)
        self._book_at: float | None = None
        self._book_wanted = False
        self._stopping = False
        self.busy = False
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start the worker thread (idempotent)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="follower", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Stop after the pass that runs now."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()

    def reconcile(self, then: Callable[[], None] | None = None) -> None:
        """Ask for one REST reconcile; `then` runs after it (even when it failed)."""
        with self._cond:
            self._rest.append(then or (lambda: None))
            self._cond.notify_all()

    def follow(self, detected_at: float | None) -> None:
        """Ask for one run from the book; `detected_at` (time.time()) of the earliest push it answers."""
        with self._cond:
            if not self._book_wanted:
                self._book_at = detected_at
            elif detected_at is not None:
                self._book_at = min(self._book_at, detected_at) if self._book_at else detected_at
            self._book_wanted = True
            self._cond.notify_all()

    def idle(self, timeout: float = 10.0) -> bool:
        """Wait until nothing is asked or running (tests)."""
        end = time.monotonic() + timeout
        with self._cond:
            while (self._rest or self._book_wanted or self.busy) and time.monotonic() < end:
                self._cond.wait(0.02)
            return not (self._rest or self._book_wanted or self.busy)

    def _loop(self) -> None:
        while True:
            with self._cond:
                while not (self._rest or self._book_wanted or self._stopping):
                    self._cond.wait()
                if self._stopping:
                    return
                callbacks, self._rest = self._rest, []
                book, detected_at = self._book_wanted, self._book_at
                if not callbacks:
                    self._book_wanted, self._book_at = False, None
                self.busy = True
            try:
                if callbacks:
                    self._rest_pass()  # the REST pass reconciles everyone: a book run can wait for the next turn
                    for callback in callbacks:
                        callback()
                elif book:
                    self._book_pass(detected_at)
            except Exception:  # the worker must survive anything a pass does
                log.exception("follow pass failed")
            finally:
                with self._cond:
                    self.busy = False
                    self._cond.notify_all()


# ----- the connection -------------------------------------------------------------------------------------

@dataclass
class FeedStatus:
    """What the dashboard and /healthz show about where master changes come from."""

    enabled: bool = False
    state: str = "off"  # off | connecting | syncing | live | down
    url: str | None = None
    reason: str | None = None  # why it is off or down
    since: float | None = None  # when the state began
    down_since: float | None = None  # first failure of the current outage
    last_push_at: float | None = None
    pushes: int = 0
    connects: int = 0
    login_failed: bool = False

    def to_json(self, now: float | None = None) -> dict:
        """A JSON-able copy with the push age and the line the status strip shows."""
        now = now or time.time()
        age = None if self.last_push_at is None else max(0.0, now - self.last_push_at)
        return {"enabled": self.enabled, "state": self.state, "url": self.url, "reason": self.reason,
                "since": self.since, "down_since": self.down_since, "last_push_at": self.last_push_at,
                "last_push_age": age, "pushes": self.pushes, "connects": self.connects,
                "login_failed": self.login_failed, "live": self.state == "live", "text": self.text(now)}

    def text(self, now: float) -> str:
        """"live · WebSocket, last push 0.4 s ago" or "polling · WebSocket down since 12:03 (reason)"."""
        if self.state == "live":
            if self.last_push_at is None:
                return "live · WebSocket, no push yet"
            return f"live · WebSocket, last push {_age(now - self.last_push_at)} ago"
        if self.state in ("connecting", "syncing"):
            return f"polling · WebSocket {self.state}" + (f" ({self.reason})" if self.reason else "")
        if not self.enabled:
            return "polling · WebSocket off" + (f" ({self.reason})" if self.reason else "")
        if self.state == "off":  # enabled, not started yet (it starts with the background jobs)
            return "polling · WebSocket not started" + (f" ({self.reason})" if self.reason else "")
        since = time.strftime("%H:%M", time.localtime(self.down_since or self.since or now))
        return f"polling · WebSocket down since {since}" + (f" ({self.reason})" if self.reason else "")


def _age(seconds: float) -> str:
    seconds = max(0.0, seconds)
    if seconds < 10:
        return f"{seconds:.1f} s"
    if seconds < 120:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.0f} min"


def listen(conn: PrivateConnection, stopping: threading.Event, ping_every: float, on_push: Callable[[Push], None],
           still_valid: Callable[[], bool]) -> None:
    """Read pushes until `stopping` is set; ping every `ping_every` s; raise StreamError on a missing pong,
    a closed connection, or when `still_valid()` (checked every KEY_CHECK_S) turns false."""
    last_ping = last_check = time.monotonic()
    pinged_at: float | None = None  # the ping still waiting for its pong
    while not stopping.is_set():
        now = time.monotonic()
        if now - last_check >= KEY_CHECK_S:
            last_check = now
            if not still_valid():
                raise StreamError("the account or its keys changed: reconnecting")
        if pinged_at is not None and conn.last_pong >= pinged_at:
            pinged_at = None
        if pinged_at is not None and now - pinged_at > PONG_TIMEOUT_S:
            raise StreamError(f"no pong within {PONG_TIMEOUT_S:g} s")
        if now - last_ping >= ping_every:
            conn.ping()
            last_ping = now
            pinged_at = pinged_at or now
        push = conn.recv(timeout=max(0.05, min(1.0, last_ping + ping_every - now)))
        if push is not None:
            on_push(push)


def login_retry_seconds(failures: int) -> float:
    """After a refused login: 15 s doubling to 5 minutes (keys rarely fix themselves in seconds)."""
    first, ceiling = LOGIN_RETRY_S
    return min(ceiling, first * 2 ** min(max(failures, 1) - 1, 6))


def backoff_seconds(failures: int) -> float:
    """1 s doubling to 60 s, with jitter: many copiers (or clients) must not reconnect in step."""
    ceiling = min(BACKOFF_MAX_S, BACKOFF_MIN_S * 2 ** min(max(failures, 1) - 1, 6))
    return random.uniform(ceiling / 2, ceiling)


def stream_url(app: Flask, demo: bool) -> tuple[str | None, str | None]:
    """The master's WebSocket URL, or None and why there is none.

    BITGET_WS_URL wins; the simulator's own in sim mode; Bitget's live or demo URL when REST goes to Bitget.
    A custom BITGET_BASE_URL without BITGET_WS_URL gets no stream: pushes from Bitget about an account that
    REST reads elsewhere would be facts about another world.
    """
    if not app.config.get("WS_ENABLED", True):
        return None, "WS_ENABLED is off"
    configured = app.config.get("BITGET_WS_URL")
    if configured:
        return str(configured), None
    if app.config.get("EXCHANGE") == "sim":
        runner = app.extensions.get("sim_runner")
        url = runner.ws_url() if runner is not None else None
        return (url, None) if url else (None, "the simulator runs without its WebSocket")
    host = urlparse(str(app.config.get("BITGET_BASE_URL", ""))).hostname or ""
    if host == BITGET_REST_HOST:
        return (DEMO_URL if demo else LIVE_URL), None
    return None, "no BITGET_WS_URL for this BITGET_BASE_URL"


class MasterFeed:
    """The master's private connection, kept open in one daemon thread."""

    def __init__(self, app: Flask, follower: Follower, book: MasterBook) -> None:
        self.app = app
        self.follower = follower
        self.book = book
        self.status = FeedStatus(enabled=bool(app.config.get("WS_ENABLED", True)))
        self._stopping = threading.Event()
        self._conn: PrivateConnection | None = None
        self._thread: threading.Thread | None = None
        self._changed_while_syncing = False
        self._generation = 0  # which connection the "now live" callback belongs to
        self._failures = 0
        self._login_failures = 0

    @property
    def live(self) -> bool:
        """Pushes are trusted: connected, subscribed and reconciled since."""
        return self.status.state == "live"

    def start(self) -> None:
        """Start the follower and the connection thread (idempotent)."""
        self.follower.start()
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="master-feed", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Close the connection and end both threads."""
        self._stopping.set()
        self.follower.stop()
        conn = self._conn
        if conn is not None:
            conn.close()

    def reconnect(self) -> None:
        """Drop the connection now (the master's keys changed, say); the thread reconnects."""
        conn = self._conn
        if conn is not None:
            conn.close()

    # ----- the thread

    def _run(self) -> None:
        while not self._stopping.is_set():
            wait = self._connect_once()
            if wait > 0:
                self._stopping.wait(wait)

    def _connect_once(self) -> float:
        """One connection's life; returns how long to wait before the next attempt."""
        master = self._master()
        if master is None:
            self._set("off", "no master account", enabled=self.status.enabled)
            return 5.0
        url, why_not = stream_url(self.app, master["demo"])
        if url is None:
            self._set("off", why_not, enabled=False)
            return 30.0
        self.status.enabled, self.status.url = True, url
        conn = PrivateConnection(url, master["api_key"], master["api_secret"], master["passphrase"],
                                 timeout=float(self.app.config.get("WS_TIMEOUT_SECONDS", 10)),
                                 source_address=self.app.config.get("EGRESS_SOURCE_ADDRESS") or None)
        self._conn = conn
        self._set("connecting", None)
        try:
            early = conn.open()
            self.status.connects += 1
            self.status.login_failed = False
            self._failures = self._login_failures = 0
            self._start_sync()
            for push in early:
                self._on_push(push)
            self._listen(conn, master["version"])
            return 0.0 if self._stopping.is_set() else self._backoff()
        except StreamLoginError as exc:
            self._login_failures += 1
            self._down(f"{exc}; check the master's API key (classic account, not UTA)")
            self.status.login_failed = True  # after the reason: whoever sees the flag sees why
            return login_retry_seconds(self._login_failures)
        except StreamError as exc:
            if self._stopping.is_set():
                return 0.0
            self._down(str(exc))
            return self._backoff()
        except Exception as exc:  # the thread must live on: polling covers for it meanwhile
            log.exception("master stream crashed")
            self._down(f"internal error: {exc}")
            return self._backoff()
        finally:
            conn.close()
            self._conn = None

    def _listen(self, conn: PrivateConnection, version: tuple) -> None:
        listen(conn, self._stopping, float(self.app.config.get("WS_PING_SECONDS", 25)), self._on_push,
               lambda: self._master_version() == version)

    def _start_sync(self) -> None:
        """After (re)connecting: the book starts over; pushes are trusted once a REST pass reconciled."""
        self.book.clear()
        self._changed_while_syncing = False
        self._generation += 1
        generation = self._generation
        self._set("syncing", "reconciling through REST")
        self.follower.reconcile(then=lambda: self._synced(generation))

    def _synced(self, generation: int) -> None:
        if generation != self._generation or self.status.state != "syncing":
            return  # that connection is gone already
        self._set("live", None)
        self.status.down_since = None
        if self._changed_while_syncing:
            self.follower.follow(None)

    def _on_push(self, push: Push) -> None:
        self.status.pushes += 1
        self.status.last_push_at = push.received_at
        if self.book.apply(push):
            if self.live:
                self.follower.follow(push.received_at)
            else:
                self._changed_while_syncing = True

    def _down(self, reason: str) -> None:
        if self.status.down_since is None:
            self.status.down_since = time.time()
        if self.status.state != "down" or self.status.reason != reason:
            log.warning("master WebSocket down, polling meanwhile: %s", reason)
        self._set("down", reason)

    def _backoff(self) -> float:
        self._failures += 1
        return backoff_seconds(self._failures)

    def _set(self, state: str, reason: str | None, *, enabled: bool | None = None) -> None:
        if enabled is not None:
            self.status.enabled = enabled
        if state != self.status.state:
            self.status.since = time.time()
            if state == "live":
                log.info("master WebSocket live on %s", self.status.url)
        self.status.state, self.status.reason = state, reason

    def _master(self) -> dict | None:
        """The master's credentials (decrypted only here, never logged) and the version of its keys."""
        from ..store.extensions import db
        from ..store.models import Account

        with self.app.app_context():
            try:
                account = db.session.query(Account).filter_by(role="master", enabled=True).one_or_none()
                if account is None:
                    return None
                creds = self.app.extensions["gateway"].credentials_for(account)
                return {"id": account.id, "demo": creds.demo, "api_key": creds.api_key,
                        "api_secret": creds.api_secret, "passphrase": creds.passphrase,
                        "version": _key_version(account)}
            finally:
                db.session.remove()

    def _master_version(self) -> tuple | None:
        from ..store.extensions import db
        from ..store.models import Account

        with self.app.app_context():
            try:
                account = db.session.query(Account).filter_by(role="master", enabled=True).one_or_none()
                return None if account is None else _key_version(account)
            finally:
                db.session.remove()


def _key_version(account) -> tuple:
    return (account.id, account.api_key_enc, account.api_secret_enc, account.passphrase_enc, account.demo)
