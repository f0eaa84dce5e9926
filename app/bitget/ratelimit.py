"""Thread-safe client-side rate limiters: per account and endpoint (token buckets), per server IP (window).

Waiting callers reserve their slot under the lock and sleep outside it, so threads queue fairly and the
lock is never held while sleeping. `clock` and `sleep` are injectable so tests never really wait.
"""
from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Mapping

Clock = Callable[[], float]
Sleep = Callable[[float], None]


class TokenBucket:
    """Classic token bucket: `rate_per_s` tokens per second, at most `burst` saved up."""

    def __init__(self, rate_per_s: float, burst: float, *, clock: Clock = time.monotonic,
                 sleep: Sleep = time.sleep) -> None:
        if rate_per_s <= 0 or burst < 1:
            raise ValueError("rate_per_s must be > 0 and burst >= 1")
        self.rate_per_s = float(rate_per_s)
        self.burst = float(burst)
        self._clock = clock
        self._sleep = sleep
        self._tokens = float(burst)
        self._stamp = clock()
        self._lock = threading.Lock()

    def reserve(self) -> float:
        """Take one token now (possibly borrowing from the future); return how long to wait for it."""
        with self._lock:
            now = self._clock()
            self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate_per_s)
            self._stamp = now
            self._tokens -= 1
            return 0.0 if self._tokens >= 0 else -self._tokens / self.rate_per_s

    def acquire(self) -> float:
        """Block until one request may go out; return the seconds waited."""
        wait = self.reserve()
        if wait > 0:
            self._sleep(wait)
        return wait


class SlidingWindowLimiter:
    """At most `max_requests` grants in any window of `window_s` seconds (exact, not bucketed)."""

    def __init__(self, max_requests: int, window_s: float, *, clock: Clock = time.monotonic,
                 sleep: Sleep = time.sleep) -> None:
        if max_requests < 1 or window_s <= 0:
            raise ValueError("max_requests must be >= 1 and window_s > 0")
        self.max_requests = max_requests
        self.window_s = float(window_s)
        self._clock = clock
        self._sleep = sleep
        self._grants: deque[float] = deque()
        self._lock = threading.Lock()

    def reserve(self) -> float:
        """Book the next free slot; return how long to wait until it."""
        with self._lock:
            now = self._clock()
            while self._grants and self._grants[0] <= now - self.window_s:
                self._grants.popleft()
            slot = now
            if len(self._grants) >= self.max_requests:
                # grants are sorted: the one max_requests back must have left the window first
                slot = max(now, self._grants[-self.max_requests] + self.window_s)
            self._grants.append(slot)
            return slot - now

    def acquire(self) -> float:
        """Block until one request may go out; return the seconds waited."""
        wait = self.reserve()
        if wait > 0:
            self._sleep(wait)
        return wait

    def in_window(self) -> int:
        """Grants counted in the current window (including booked future slots)."""
        with self._lock:
            now = self._clock()
            return sum(1 for grant in self._grants if grant > now - self.window_s)


PUBLIC_RATE = 20.0
DEFAULT_RATE = 10.0
# one second plus a margin: requests sent a second apart can arrive closer together than that (a busy
# machine or network delays one request more than the next), and the exchange counts arrivals
UID_WINDOW_S = 1.25

# REFERENCE §5; keyed by request path. Public (IP-keyed) paths are listed in PUBLIC_PATHS instead.
_ENDPOINT_RATES: dict[str, float] = {
    "/api/v2/mix/position/all-position": 5,
    "/api/v2/mix/position/single-position": 10,
    "/api/v2/mix/order/close-positions": 1,
    "/api/v2/mix/account/set-leverage": 5,
    "/api/v2/mix/account/set-margin-mode": 5,
    "/api/v2/mix/account/set-position-mode": 5,
    "/api/v2/mix/order/place-order": 10,
    "/api/v2/mix/order/batch-place-order": 5,
    "/api/v2/mix/account/account": 10,
    "/api/v2/mix/account/accounts": 10,
    "/api/v2/spot/account/info": 1,
    "/api/v2/account/all-account-balance": 1,
}

PUBLIC_PATHS = frozenset({
    "/api/v2/public/time",
    "/api/v2/mix/market/contracts",
    "/api/v2/mix/market/ticker",
    "/api/v2/mix/market/tickers",
    "/api/v2/mix/market/symbol-price",
    "/api/v2/spot/public/coins",
    "/api/v2/spot/public/symbols",
    "/api/v2/margin/currencies",
})


class EndpointLimits:
    """Requests per second allowed for each endpoint path (default for unlisted private paths)."""

    def __init__(self, overrides: Mapping[str, float] | None = None, *, default: float = DEFAULT_RATE,
                 public: float = PUBLIC_RATE) -> None:
        self._rates = {**_ENDPOINT_RATES, **dict(overrides or {})}
        self.default = default
        self.public = public

    def rate_for(self, path: str) -> float:
        """Requests per second budgeted for this path."""
        if path in self._rates:
            return float(self._rates[path])
        return self.public if path in PUBLIC_PATHS else self.default


class AccountRateLimiter:
    """One per Bitget account (UID): per endpoint at most its rate in any one-second window, created on first use.

    A sliding window rather than a token bucket: a bucket that starts full lets rate + refill requests through
    within one second, which an exchange counting "N per second" over a sliding second refuses with 429.
    """

    def __init__(self, limits: EndpointLimits | None = None, *, clock: Clock = time.monotonic,
                 sleep: Sleep = time.sleep) -> None:
        self.limits = limits or EndpointLimits()
        self._clock = clock
        self._sleep = sleep
        self._buckets: dict[str, SlidingWindowLimiter] = {}
        self._lock = threading.Lock()

    def bucket(self, path: str) -> SlidingWindowLimiter:
        """The one-second window for this endpoint (at least one request)."""
        with self._lock:
            if path not in self._buckets:
                rate = max(1, int(self.limits.rate_for(path)))
                self._buckets[path] = SlidingWindowLimiter(rate, UID_WINDOW_S, clock=self._clock, sleep=self._sleep)
            return self._buckets[path]

    def acquire(self, path: str) -> float:
        """Wait for this account's budget on `path`; return the seconds waited."""
        return self.bucket(path).acquire()


class ServerRateLimiter(SlidingWindowLimiter):
    """Process-wide per-IP budget: Bitget allows 6000/min/IP and locks the IP out for 5 minutes beyond.

    The default 5000 per 60 s leaves head-room for clock skew and for other tools on the same IP. Public
    market endpoints also share one 20/s bucket because Bitget counts them per IP, not per account.
    """

    def __init__(self, max_requests: int = 5000, window_s: float = 60.0, *, public_rate: float = PUBLIC_RATE,
                 clock: Clock = time.monotonic, sleep: Sleep = time.sleep) -> None:
        super().__init__(max_requests, window_s, clock=clock, sleep=sleep)
        self.public_bucket = TokenBucket(public_rate, public_rate, clock=clock, sleep=sleep)

    def acquire(self, public: bool = False) -> float:
        """Wait for the IP budget (and the public bucket for public endpoints); return seconds waited."""
        waited = self.public_bucket.acquire() if public else 0.0
        return waited + super().acquire()


SHARED_SERVER_LIMITER = ServerRateLimiter()
