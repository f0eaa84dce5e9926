"""The simulator's WSGI app: Bitget API paths (ApiApp) in front of a small Flask app for admin and page."""
from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flask import Flask, Response, jsonify, request

from .api import ApiApp, RequestStats, envelope
from .errors import NOT_FOUND_URL
from .exchange import Exchange
from .faults import FaultInjector
from .limits import RateLimiter

HERE = Path(__file__).resolve().parent
LOOPBACK = frozenset({"127.0.0.1", "::1", "::ffff:127.0.0.1"})


@dataclass
class SimContext:
    """What the admin endpoints and the page reach through current_app.extensions['sim']."""

    exchange: Exchange
    faults: FaultInjector
    stats: RequestStats
    limits: RateLimiter
    ws: Any = None  # the private WebSocket server (app.sim.ws.PrivateStream) once started
    form_token: str = field(default_factory=lambda: secrets.token_urlsafe(24))


def create_sim_app(exchange: Exchange, faults: FaultInjector | None = None, stats: RequestStats | None = None,
                   limits: RateLimiter | None = None) -> Flask:
    """Build the simulator's WSGI app around an exchange (rate limits on unless `limits` says otherwise)."""
    app = Flask("app.sim", root_path=str(HERE), template_folder="templates", static_folder="static",
                static_url_path="/_sim/static")
    limits = limits or RateLimiter(True)
    ctx = SimContext(exchange, faults or FaultInjector(seed=exchange.seed), stats or RequestStats(limits), limits)
    app.extensions["sim"] = ctx
    from . import admin, ui

    app.register_blueprint(admin.bp)
    app.register_blueprint(ui.bp)
    app.before_request(loopback_only)
    app.after_request(security_headers)
    app.register_error_handler(404, not_found)
    app.wsgi_app = ApiApp(exchange, ctx.faults, ctx.stats, app.wsgi_app, limits)  # type: ignore[method-assign]
    return app


def loopback_only() -> Response | None:
    """Refuse the admin endpoints and the page to anyone but this machine."""
    if request.path.startswith("/_sim") and request.remote_addr not in LOOPBACK:
        response = jsonify({"error": {"code": "403", "msg": "the simulator admin is only reachable from loopback"}})
        response.status_code = 403
        return response
    return None


def security_headers(response: Response) -> Response:
    """No framing, no foreign scripts or styles, no MIME sniffing."""
    response.headers.setdefault("Content-Security-Policy",
                                "default-src 'self'; script-src 'none'; frame-ancestors 'none'; form-action 'self'")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    return response


def not_found(_error: Exception) -> Response:
    """Unknown paths answer with Bitget's 404 envelope."""
    return Response(envelope(*NOT_FOUND_URL, None), status=404, mimetype="application/json")
