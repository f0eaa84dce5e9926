"""WSGI front for the Bitget API paths: stats, faults, auth, dispatch and Bitget's envelope."""
from __future__ import annotations

import json
import logging
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from . import routes_account, routes_market, routes_plan, routes_spot, routes_trade  # noqa: F401  (endpoints)
from .auth import authenticate
from .contracts import PRODUCT_TYPE
from .errors import CLASSIC_ACCOUNT, NO_PERMISSION, NOT_FOUND_URL, SYSTEM_ERROR, SimError, fail, param_error
from .faults import Decision, FaultInjector
from .limits import RateLimiter
from .numbers import now_ms
from .registry import ROUTES, Call, Route

if TYPE_CHECKING:
    from .exchange import Exchange

log = logging.getLogger(__name__)
MAX_BODY = 1 << 20
JSON_HEADERS = [("Content-Type", "application/json")]
TOO_MANY = ("429", "Too Many Requests")
BAD_GATEWAY = b"<html><head><title>502 Bad Gateway</title></head><body><h1>502 Bad Gateway</h1></body></html>"


class RequestStats:
    """Request counts per API key and path since the last reset, plus the rate limiter's (thread-safe)."""

    def __init__(self, limits: RateLimiter | None = None) -> None:
        self._lock = threading.Lock()
        self.limits = limits
        self.reset()

    def reset(self) -> None:
        """Start counting afresh (the rate limiter's counters, windows and lockouts too)."""
        if self.limits is not None:
            self.limits.reset_counters()
            self.limits.reset()
        with self._lock:
            self.since = now_ms()
            self._counts: dict[tuple[str, str], int] = {}
            self._statuses: dict[int, int] = {}
            self.recent: deque[tuple[int, str, str, str]] = deque(maxlen=50_000)

    def count(self, api_key: str, path: str, ip: str = "") -> None:
        """Count one request (and remember when and from where it came: detection delay, per-IP checks)."""
        with self._lock:
            key = (api_key, path)
            self._counts[key] = self._counts.get(key, 0) + 1
            self.recent.append((now_ms(), api_key, path, ip))

    def requests_since(self, since_ms: int, names: dict[str, str]) -> list[dict[str, Any]]:
        """The requests that arrived at or after `since_ms` (sim clock), oldest first, with account names."""
        with self._lock:
            rows = [r for r in self.recent if r[0] >= since_ms]
        return [{"ts": ts, "account": names.get(key, ""), "path": path, "ip": ip} for ts, key, path, ip in rows]

    def status(self, code: int) -> None:
        """Count one reply status (a lost reply counts as 0)."""
        with self._lock:
            self._statuses[code] = self._statuses.get(code, 0) + 1

    def snapshot(self, names: dict[str, str]) -> dict[str, Any]:
        """Totals, per path, per key (with the account name) and per reply status."""
        with self._lock:
            counts = dict(self._counts)
            statuses = dict(self._statuses)
            since = self.since
        by_path: dict[str, int] = {}
        by_key: dict[str, dict[str, Any]] = {}
        for (key, path), n in sorted(counts.items()):
            by_path[path] = by_path.get(path, 0) + n
            entry = by_key.setdefault(key, {"account": names.get(key, ""), "total": 0, "paths": {}})
            entry["total"] += n
            entry["paths"][path] = n
        out = {"since": since, "total": sum(counts.values()), "by_path": by_path, "by_key": by_key,
               "by_status": {str(k): v for k, v in sorted(statuses.items())}}
        if self.limits is not None:
            out.update(self.limits.snapshot())
        return out


def envelope(code: str, msg: str, data: Any) -> bytes:
    """Bitget's response envelope, compact JSON."""
    return json.dumps({"code": code, "msg": msg, "requestTime": now_ms(), "data": data},
                      separators=(",", ":")).encode()


def read_body(environ: dict[str, Any]) -> bytes:
    """The raw request body (at most MAX_BODY bytes)."""
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length <= 0:
        return b""
    return environ["wsgi.input"].read(min(length, MAX_BODY))


class ApiApp:
    """Serves /api/... itself and hands every other path to the wrapped WSGI app (admin and page)."""

    def __init__(self, exchange: Exchange, faults: FaultInjector, stats: RequestStats,
                 fallback: Callable[..., Iterable[bytes]], limits: RateLimiter | None = None) -> None:
        self.exchange = exchange
        self.faults = faults
        self.stats = stats
        self.fallback = fallback
        self.limits = limits or RateLimiter(False)

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        """WSGI entry point."""
        path = str(environ.get("PATH_INFO", ""))
        if not path.startswith("/api/"):
            return self.fallback(environ, start_response)
        self.stats.count(str(environ.get("HTTP_ACCESS_KEY", "")), path, str(environ.get("REMOTE_ADDR", "")))
        decision = self.faults.decide(path)
        if decision.latency_ms:
            time.sleep(decision.latency_ms / 1000)
        if self.limits.enabled and self.limits.check_ip(str(environ.get("REMOTE_ADDR", "")), path):
            return self._fault_reply(Decision(status=429), start_response)
        if decision.status is not None:
            return self._fault_reply(decision, start_response)
        status, payload = self.handle(environ, path)
        if decision.lose and self._drop(environ):
            self.stats.status(0)
            start_response("500 Response Lost", [("Content-Length", "0")])
            return [b""]
        self.stats.status(status)
        start_response(f"{status} {'OK' if status == 200 else TOO_MANY[1] if status == 429 else 'Error'}",
                       [*JSON_HEADERS, ("Content-Length", str(len(payload)))])
        return [payload]

    def handle(self, environ: dict[str, Any], path: str) -> tuple[int, bytes]:
        """Run one API call; returns (HTTP status, body)."""
        method = str(environ.get("REQUEST_METHOD", "GET")).upper()
        route = ROUTES.get((method, path))
        body = read_body(environ)
        if route is None and path.startswith("/api/v3/") and environ.get("HTTP_ACCESS_KEY"):
            return self._classic_only(environ, body)
        if route is None:
            return 404, envelope(*NOT_FOUND_URL, None)
        try:
            call = self._call(route, environ, path, method, body)
            return 200, envelope("00000", "success", route.handler(call))
        except SimError as exc:
            return exc.http_status, envelope(exc.code, exc.msg, None)
        except Exception:  # a simulator bug must still answer like an exchange would
            log.exception("simulator error on %s %s", method, path)
            return 500, envelope(*SYSTEM_ERROR, None)

    def _classic_only(self, environ: dict[str, Any], body: bytes) -> tuple[int, bytes]:
        """A signed v3 (Unified Account) call: authenticated like any call, then refused with 40084."""
        try:
            authenticate(self.exchange, environ, body)
        except SimError as exc:
            return exc.http_status, envelope(exc.code, exc.msg, None)
        return 400, envelope(*CLASSIC_ACCOUNT, None)

    def _call(self, route: Route, environ: dict[str, Any], path: str, method: str, body: bytes) -> Call:
        """Authenticate, apply the per-UID limit, parse and check the parameters."""
        account = authenticate(self.exchange, environ, body) if route.private else None
        if account is not None and self.limits.enabled and self.limits.check_uid(account.user_id, path):
            raise SimError(*TOO_MANY, http_status=429)
        if method == "POST":
            try:
                params = json.loads(body or b"{}")
            except ValueError:
                raise param_error("body is not valid JSON") from None
            if not isinstance(params, dict):
                raise param_error("body must be a JSON object")
        else:
            params = dict(parse_qsl(str(environ.get("QUERY_STRING", "")), keep_blank_values=True))
        if route.trading and account is not None and account.read_only:
            raise fail(NO_PERMISSION)
        if route.product and str(params.get("productType", "")).upper() != PRODUCT_TYPE:
            raise param_error("productType must be USDT-FUTURES")
        return Call(self.exchange, account, params)

    def _fault_reply(self, decision: Decision, start_response: Callable[..., Any]) -> list[bytes]:
        status = decision.status or 500
        self.stats.status(status)
        if status == 429:
            payload, headers, text = envelope(*TOO_MANY, None), JSON_HEADERS, TOO_MANY[1]
        elif status == 502:
            payload, headers, text = BAD_GATEWAY, [("Content-Type", "text/html")], "Bad Gateway"
        else:
            payload, headers, text = envelope(*SYSTEM_ERROR, None), JSON_HEADERS, "Service Unavailable"
        start_response(f"{status} {text}", [*headers, ("Content-Length", str(len(payload)))])
        return [payload]

    @staticmethod
    def _drop(environ: dict[str, Any]) -> bool:
        """Close the client's connection without a reply; False when the server offers no way to."""
        dropper = environ.get("sim.drop_connection")
        if dropper is not None:
            dropper()
            return True
        sock = environ.get("werkzeug.socket")
        if sock is None:
            return False
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        return True
