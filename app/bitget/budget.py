"""One request budget per egress IP, shared by every account the process serves, with priority classes.

Bitget counts every request from one IP in a minute (6000) and locks the IP out for 5 minutes beyond it, for
every account at once. So the process keeps one sliding 60 s window of every request it sends (refused and
retried ones included: the exchange counts them too) under a cap with a margin, and grants it by priority:
closes and replication first, then master reads, then background reads (client refreshes, fill measurement,
snapshots), which may never hold more than a share of the window. An action therefore never waits behind
background reads. One 429 among successes is an account's own limit, retried by the client with backoff. Two
429s with no success between them pause every request briefly; 429s that go on after that pause are taken
for the IP lockout they most likely are: every request fails fast until it ends instead of hammering it.

The class of a request comes from the calling context (`with request_priority(BACKGROUND): ...`), so the
client and the code between need not pass it along.
"""
from __future__ import annotations

import contextvars
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

from .ratelimit import PUBLIC_RATE, TokenBucket

ACTION, MASTER, BACKGROUND = "action", "master", "background"
CLASSES = (ACTION, MASTER, BACKGROUND)  # highest priority first
EXCHANGE_LIMIT_PER_MINUTE = 6000
SHORT_PAUSE_SECONDS = 2.0  # 429s with no success between them: let the exchange's windows drain
LOCKOUT_SECONDS = 300.0  # Bitget's IP lockout
LOCKOUT_STREAK = 6  # this many 429s after the pause, with still no success, mean the IP is locked out

_priority: contextvars.ContextVar[str] = contextvars.ContextVar("bitget_request_priority", default=ACTION)
T = TypeVar("T")


@contextmanager
def request_priority(cls: str) -> Iterator[None]:
    """Requests sent inside this block (in this thread) belong to class `cls`."""
    token = _priority.set(cls)
    try:
        yield
    finally:
        _priority.reset(token)


def as_priority(cls: str, fn: Callable[..., T]) -> Callable[..., T]:
    """Wrap fn so that it runs with its requests in class `cls` (for work handed to other threads)."""
    def wrapped(*args: Any, **kwargs: Any) -> T:
        with request_priority(cls):
            return fn(*args, **kwargs)
    return wrapped


def current_priority() -> str:
    """The class requests sent now would be counted in."""
    return _priority.get()


class BudgetExhausted(Exception):
    """Raised instead of waiting while the IP is locked out (the caller turns it into a rate-limit error)."""

    def __init__(self, until: float, reason: str) -> None:
        super().__init__(reason)
        self.until = until
        self.reason = reason


@dataclass(frozen=True)
class BudgetSnapshot:
    """The budget in use, for the dashboard and /healthz."""

    per_minute: int
    limit: int
    by_class: dict[str, int]
    background_cap: int
    paused_until: float | None
    lockout_until: float | None
    rate_limited: int

    def to_dict(self) -> dict[str, Any]:
        """JSON shape."""
        return {
            "requests_last_minute": self.per_minute, "limit_per_minute": self.limit,
            "exchange_limit_per_minute": EXCHANGE_LIMIT_PER_MINUTE,
            "pct_of_exchange_limit": round(100 * self.per_minute / EXCHANGE_LIMIT_PER_MINUTE, 1),
            "by_class": self.by_class, "background_cap_per_minute": self.background_cap,
            "paused_until": self.paused_until, "lockout_until": self.lockout_until,
            "rate_limited_answers": self.rate_limited,
        }


class RequestBudget:
    """Thread-safe: a sliding window of every request sent from this IP, granted by priority class."""

    def __init__(self, limit_per_minute: int = 5700, background_share: float = 0.3, *, window_s: float = 60.0,
                 public_rate: float = PUBLIC_RATE, clock: Callable[[], float] = time.monotonic,
                 wall: Callable[[], float] = time.time) -> None:
        if limit_per_minute < 1 or not 0 < background_share <= 1:
            raise ValueError("limit_per_minute must be >= 1 and 0 < background_share <= 1")
        self.limit = int(limit_per_minute)
        self.background_share = float(background_share)
        self.background_cap = max(1, int(self.limit * self.background_share))
        self.window_s = float(window_s)
        self._clock, self._wall = clock, wall
        self._sent: deque[tuple[float, str]] = deque()
        self._in_window = dict.fromkeys(CLASSES, 0)
        self._waiting = dict.fromkeys(CLASSES, 0)
        self._cond = threading.Condition()
        self._paused_until = 0.0
        self._lockout_until = 0.0
        self._streak = 0  # 429s since the last successful answer
        self._streak_pause_end = 0.0  # when the pause this streak caused ended (0: none yet)
        self._after_pause = 0  # 429s of this streak that came after that pause
        self.limited_count = 0
        self.public_bucket = TokenBucket(public_rate, public_rate, clock=clock)
        self.on_lockout: Callable[[float], None] | None = None  # wall-clock end of the lockout

    # --- granting -------------------------------------------------------------------------------------
    def acquire(self, public: bool = False) -> float:
        """Wait for a slot of the caller's class; return the seconds waited (BudgetExhausted in a lockout)."""
        cls = _priority.get()
        started = self._clock()
        if public:
            self.public_bucket.acquire()
        with self._cond:
            self._waiting[cls] += 1
            try:
                while True:
                    wait = self._wait_for(cls)
                    if wait <= 0:
                        self._grant(cls)
                        return self._clock() - started
                    self._cond.wait(min(wait, 1.0))
            finally:
                self._waiting[cls] -= 1
                self._cond.notify_all()

    def _wait_for(self, cls: str) -> float:
        """0 when `cls` may send now, else how long to wait before looking again (lock held)."""
        now = self._clock()
        self._purge(now)
        if now < self._lockout_until:
            raise BudgetExhausted(self._wall() + self._lockout_until - now, "Bitget rate limit hit: "
                                  "every account is blocked until the lockout ends")
        if now < self._paused_until:
            return self._paused_until - now
        higher = CLASSES[:CLASSES.index(cls)]
        if any(self._waiting[c] for c in higher):
            return 0.05  # a more urgent request is waiting for this slot
        if cls == BACKGROUND and self._in_window[BACKGROUND] >= self.background_cap:
            return self._until_oldest(now, BACKGROUND)
        if len(self._sent) >= self.limit:
            return self._until_oldest(now, None)
        return 0.0

    def _grant(self, cls: str) -> None:
        self._sent.append((self._clock(), cls))
        self._in_window[cls] += 1

    def _purge(self, now: float) -> None:
        edge = now - self.window_s
        while self._sent and self._sent[0][0] <= edge:
            _, cls = self._sent.popleft()
            self._in_window[cls] -= 1

    def _until_oldest(self, now: float, cls: str | None) -> float:
        for stamp, owner in self._sent:
            if cls is None or owner == cls:
                return max(0.001, stamp + self.window_s - now)
        return 0.001

    # --- 429s -----------------------------------------------------------------------------------------
    def answered(self) -> None:
        """A successful answer arrived: whatever limited us is over."""
        if self._streak:
            with self._cond:
                self._reset_streak()

    def rate_limited(self) -> float:
        """The exchange answered 429; returns the pause every request now waits (0: none)."""
        with self._cond:
            now = self._clock()
            self.limited_count += 1
            self._streak += 1
            pause, until = 0.0, None
            if not self._streak_pause_end and self._streak >= 2:
                self._streak_pause_end = self._paused_until = now + SHORT_PAUSE_SECONDS
                pause = SHORT_PAUSE_SECONDS
            elif self._streak_pause_end and now >= self._streak_pause_end:
                self._after_pause += 1
                if self._after_pause >= LOCKOUT_STREAK:
                    self._lockout_until = max(self._lockout_until, now + LOCKOUT_SECONDS)
                    pause, until = LOCKOUT_SECONDS, self._wall() + LOCKOUT_SECONDS
                    self._reset_streak()
            self._cond.notify_all()
        if until is not None and self.on_lockout is not None:
            self.on_lockout(until)
        return pause

    def _reset_streak(self) -> None:
        self._streak = self._after_pause = 0
        self._streak_pause_end = 0.0

    def clear_lockout(self) -> None:
        """Forget a lockout (operator action, tests)."""
        with self._cond:
            self._lockout_until = self._paused_until = 0.0
            self._reset_streak()
            self._cond.notify_all()

    # --- reporting ------------------------------------------------------------------------------------
    def snapshot(self) -> BudgetSnapshot:
        """What the window holds now."""
        with self._cond:
            now = self._clock()
            self._purge(now)
            wall = self._wall()
            return BudgetSnapshot(
                per_minute=len(self._sent), limit=self.limit, by_class=dict(self._in_window),
                background_cap=self.background_cap,
                paused_until=wall + self._paused_until - now if now < self._paused_until else None,
                lockout_until=wall + self._lockout_until - now if now < self._lockout_until else None,
                rate_limited=self.limited_count,
            )

    def background_rate_per_second(self) -> float:
        """What background work may spend per second on average."""
        return self.background_cap / self.window_s
