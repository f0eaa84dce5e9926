"""Bitget's rate limits as the exchange enforces them (REFERENCE section 5).

* per UID and endpoint: at most the section 5 rate (unlisted private endpoints 10/s) in any one second,
  counted per (account, path);
* public market endpoints: 20/s per source IP and endpoint;
* per source IP: at most 6000 requests in any 60 s (every request counted, refused ones and public ones
  included); beyond it the IP is locked out for 5 minutes and every request from it is refused.

"N per second" is read strictly, as a sliding one-second window (a client that passes here passes a fixed-
window or token-bucket exchange too). Every window is a deque of arrival times behind one lock, so the
per-request cost is a dict look-up and a few deque operations; a per-endpoint deque never holds more than N.
`grace_ms` shortens the per-endpoint windows a little so a client that paces itself exactly (N per second as
sent) is not refused because loopback scheduling delivered two requests a millisecond closer than sent.
"""
from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any

from .numbers import now_ms

Clock = Callable[[], float]

IP_PER_MINUTE = 6000
WINDOW_SECONDS = 60.0
LOCKOUT_SECONDS = 300.0
PUBLIC_RATE = 20.0
DEFAULT_RATE = 10.0
GRACE_MS = 50.0

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

# REFERENCE section 5, per UID and second (anything private not listed: DEFAULT_RATE). The 1/s of
# copy-trading "elite traders" on place-order and batch-place-order is not modelled (override it).
UID_RATES: dict[str, float] = {
    "/api/v2/mix/account/account": 10,
    "/api/v2/mix/account/accounts": 10,
    "/api/v2/mix/account/set-leverage": 5,
    "/api/v2/mix/account/set-margin-mode": 5,
    "/api/v2/mix/account/set-position-mode": 5,
    "/api/v2/mix/position/all-position": 5,
    "/api/v2/mix/position/single-position": 10,
    "/api/v2/mix/order/place-order": 10,
    "/api/v2/mix/order/batch-place-order": 5,
    "/api/v2/mix/order/close-positions": 1,
    "/api/v2/mix/order/cancel-order": 10,
    "/api/v2/mix/order/batch-cancel-orders": 10,
    "/api/v2/mix/order/modify-order": 10,
    "/api/v2/mix/order/cancel-all-orders": 10,
    "/api/v2/mix/order/orders-pending": 10,
    "/api/v2/mix/order/detail": 10,
    "/api/v2/mix/order/fills": 10,
    "/api/v2/mix/order/orders-history": 10,
    "/api/v2/mix/order/place-tpsl-order": 10,
    "/api/v2/mix/order/place-pos-tpsl": 10,
    "/api/v2/mix/order/modify-tpsl-order": 10,
    "/api/v2/mix/order/cancel-plan-order": 10,
    "/api/v2/mix/order/orders-plan-pending": 10,
    "/api/v2/spot/account/assets": 10,
    "/api/v2/account/all-account-balance": 1,
    "/api/v2/spot/account/info": 1,
}

REASONS = ("uid_endpoint", "public_ip", "ip_window", "lockout")
NUMBER_KEYS = ("ip_per_minute", "window_seconds", "lockout_seconds", "public_rate", "default_rate", "grace_ms")


@dataclass(frozen=True)
class LimitConfig:
    """The limits in force; `uid_rates` holds overrides on top of UID_RATES (path -> requests per second)."""

    enabled: bool = True
    ip_per_minute: int = IP_PER_MINUTE
    window_seconds: float = WINDOW_SECONDS
    lockout_seconds: float = LOCKOUT_SECONDS
    public_rate: float = PUBLIC_RATE
    default_rate: float = DEFAULT_RATE
    grace_ms: float = GRACE_MS
    uid_rates: Mapping[str, float] = field(default_factory=dict)

    def rate_for(self, path: str) -> float:
        """Requests per second allowed per UID on a private path."""
        rate = self.uid_rates.get(path)
        if rate is None:
            rate = UID_RATES.get(path, self.default_rate)
        return float(rate)

    def to_json(self) -> dict[str, Any]:
        """JSON-friendly view, with the full per-UID table."""
        out: dict[str, Any] = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "uid_rates"}
        out["uid_rates"] = {**UID_RATES, **self.uid_rates}
        return out


def _flag(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in ("1", "true", "yes", "on", "0", "false", "no", "off"):
        return value.strip().lower() in ("1", "true", "yes", "on")
    raise ValueError("enabled must be a boolean")


def _number(key: str, value: Any) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{key} must be a number") from None
    if isinstance(value, bool) or not number >= 0 or number == float("inf"):
        raise ValueError(f"{key} must be a finite number >= 0")
    if key in ("ip_per_minute", "window_seconds", "public_rate", "default_rate") and number <= 0:
        raise ValueError(f"{key} must be > 0")
    return number


def merge(base: LimitConfig, config: bool | Mapping[str, Any] | LimitConfig | None) -> LimitConfig:
    """Apply a change: a LimitConfig replaces, a bool switches, a mapping changes the keys it names.

    In a mapping, `uid_rates` replaces the previous overrides (paths are added to the section 5 table).
    Raises ValueError on unknown keys or bad values.
    """
    if config is None:
        return base
    if isinstance(config, LimitConfig):
        return config
    if isinstance(config, bool):
        return replace(base, enabled=config)
    if not isinstance(config, Mapping):
        raise ValueError("rate limit config must be a boolean or an object")
    allowed = {f.name for f in fields(LimitConfig)}
    unknown = set(config) - allowed
    if unknown:
        raise ValueError(f"unknown rate limit keys {sorted(unknown)}; allowed: {', '.join(sorted(allowed))}")
    changes: dict[str, Any] = {}
    if "enabled" in config:
        changes["enabled"] = _flag(config["enabled"])
    for key in NUMBER_KEYS:
        if key in config:
            number = _number(key, config[key])
            changes[key] = max(1, int(number)) if key == "ip_per_minute" else number
    if "uid_rates" in config:
        rates = config["uid_rates"] or {}
        if not isinstance(rates, Mapping):
            raise ValueError("uid_rates must be an object {path: requests per second}")
        changes["uid_rates"] = {str(path): _number(f"uid_rates[{path!r}]", rate) for path, rate in rates.items()}
        if any(rate <= 0 for rate in changes["uid_rates"].values()):
            raise ValueError("uid_rates values must be > 0")
    return replace(base, **changes)


class RateLimiter:
    """The exchange's rate limiting: `check_ip` for every API request, `check_uid` after authentication.

    Both return None (go ahead) or the reason of the refusal, and count refusals per reason and path.
    `configure` swaps the config and starts the limiter state (windows, lockouts) afresh.
    """

    def __init__(self, config: bool | Mapping[str, Any] | LimitConfig | None = True, *,
                 clock: Clock = time.monotonic) -> None:
        self._lock = threading.Lock()
        self._clock = clock
        self._config = merge(LimitConfig(), config)
        self._clear_state()
        self.reset_counters()

    # ----- configuration

    @property
    def config(self) -> LimitConfig:
        """The config in force."""
        return self._config

    @property
    def enabled(self) -> bool:
        """Whether limits are enforced."""
        return self._config.enabled

    def configure(self, config: bool | Mapping[str, Any] | LimitConfig | None = None, **changes: Any
                  ) -> dict[str, Any]:
        """Change the config (see `merge`; keyword arguments are merged too); returns it as JSON data."""
        new = merge(self._config, config)
        if changes:
            new = merge(new, changes)
        with self._lock:
            self._config = new
            self._clear_state()
        return new.to_json()

    def reset(self) -> None:
        """Forget every window and lockout (the counters stay)."""
        with self._lock:
            self._clear_state()

    def reset_counters(self) -> None:
        """Zero the refusal counters."""
        with self._lock:
            self._refused: dict[str, int] = dict.fromkeys(REASONS, 0)
            self._refused_paths: dict[str, int] = {}
            self._lockouts_started = 0

    def _clear_state(self) -> None:
        self._hits: dict[tuple[str, str], deque[float]] = {}
        self._windows: dict[str, deque[float]] = {}
        self._locked: dict[str, float] = {}

    # ----- the hot path

    def check_ip(self, ip: str, path: str) -> str | None:
        """Count one request from `ip`; refuse it for a lockout, the IP window or the public endpoint's 20/s."""
        cfg = self._config
        if not cfg.enabled:
            return None
        with self._lock:
            now = self._clock()
            window = self._windows.get(ip)
            if window is None:
                window = self._windows[ip] = deque()
            cutoff = now - cfg.window_seconds
            while window and window[0] <= cutoff:
                window.popleft()
            window.append(now)
            until = self._locked.get(ip)
            if until is not None:
                if now < until:
                    return self._refuse("lockout", path)
                del self._locked[ip]
            if len(window) > cfg.ip_per_minute:
                self._locked[ip] = now + cfg.lockout_seconds
                self._lockouts_started += 1
                window.clear()  # the lockout is the penalty: counting starts afresh with the refused request
                window.append(now)
                return self._refuse("ip_window", path)
            if path in PUBLIC_PATHS and not self._take(("ip:" + ip, path), cfg.public_rate, cfg, now):
                return self._refuse("public_ip", path)
            return None

    def check_uid(self, uid: str, path: str) -> str | None:
        """Count one call of the account on this endpoint; 'uid_endpoint' when its second is full."""
        cfg = self._config
        if not cfg.enabled:
            return None
        with self._lock:
            if self._take(("uid:" + uid, path), cfg.rate_for(path), cfg, self._clock()):
                return None
            return self._refuse("uid_endpoint", path)

    def _take(self, key: tuple[str, str], rate: float, cfg: LimitConfig, now: float) -> bool:
        """Sliding window: at most `rate` requests in one second (1 per 1/rate s below 1/s), less the grace."""
        count = max(1, int(rate))
        span = max(0.0, count / rate - cfg.grace_ms / 1000.0)
        hits = self._hits.get(key)
        if hits is None:
            hits = self._hits[key] = deque()
        cutoff = now - span
        while hits and hits[0] <= cutoff:
            hits.popleft()
        if len(hits) >= count:
            return False
        hits.append(now)
        return True

    def _refuse(self, reason: str, path: str) -> str:
        self._refused[reason] += 1
        self._refused_paths[path] = self._refused_paths.get(path, 0) + 1
        return reason

    # ----- observation

    def snapshot(self) -> dict[str, Any]:
        """Refusals per reason and path, lockouts started, requests per IP in the window, lockouts (ms)."""
        with self._lock:
            now = self._clock()
            wall = now_ms()
            cutoff = now - self._config.window_seconds
            per_ip: dict[str, int] = {}
            for ip in list(self._windows):
                window = self._windows[ip]
                while window and window[0] <= cutoff:
                    window.popleft()
                if window:
                    per_ip[ip] = len(window)
                else:
                    del self._windows[ip]
            locked = {ip: wall + int((until - now) * 1000) for ip, until in self._locked.items() if until > now}
            return {
                "rate_limits_enabled": self._config.enabled,
                "rate_limited": {**self._refused, "total": sum(self._refused.values())},
                "rate_limited_by_path": dict(sorted(self._refused_paths.items())),
                "lockouts_started": self._lockouts_started,
                "ip_requests": dict(sorted(per_ip.items())),
                "lockouts": dict(sorted(locked.items())),
            }
