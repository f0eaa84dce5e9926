"""Loopback-only JSON admin API under /_sim/ (not part of Bitget): accounts, faults, prices, logs, trades."""
from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request

from . import IDENTITY
from .errors import SimError
from .numbers import fmt
from .webapp import SimContext

bp = Blueprint("sim_admin", __name__, url_prefix="/_sim")


def sim() -> SimContext:
    """The simulator context of the running app."""
    return current_app.extensions["sim"]


def body() -> dict[str, Any]:
    """The JSON body (or form fields) of the request; 'true'/'false' strings of flags become booleans."""
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        data = request.form.to_dict()
    for flag in ("demo", "read_only"):
        if isinstance(data.get(flag), str):
            data[flag] = data[flag].strip().lower() in ("1", "true", "yes", "on")
    return data


@bp.errorhandler(SimError)
def sim_error(exc: SimError) -> tuple[Response, int]:
    """A SimError as {"error": {code, msg}} with its status."""
    return jsonify({"error": {"code": exc.code, "msg": exc.msg}}), exc.http_status


@bp.errorhandler(ValueError)
@bp.errorhandler(TypeError)
def value_error(exc: Exception) -> tuple[Response, int]:
    """Bad admin input."""
    return jsonify({"error": {"code": "400", "msg": str(exc)}}), 400


@bp.get("/identity")
def identity() -> Response:
    """A marker naming this server as the copier's simulator (anything else on SIM_PORT answers otherwise)."""
    ws = sim().ws
    return jsonify({**IDENTITY, "accounts": len(sim().exchange.accounts), "ws_url": ws.url if ws else None})


@bp.route("/ws", methods=["GET", "PUT", "POST"])
def ws_faults() -> Response:
    """The private WebSocket: connections and fault settings; POST {push_delay_ms, lose_pushes, refuse_logins,
    max_lifetime_s, idle_timeout_s} changes them, {"drop": true} closes every connection now."""
    ws = sim().ws
    if ws is None:
        return jsonify({"error": {"code": "404", "msg": "this simulator runs without its WebSocket"}}), 404
    if request.method == "GET":
        return jsonify(ws.status())
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise ValueError('send a JSON object, e.g. {"drop": true}')
    return jsonify(ws.configure(data))


@bp.get("/accounts")
def list_accounts() -> Response:
    """Every account with its credentials."""
    return jsonify(sim().exchange.list_accounts())


@bp.post("/accounts")
def create_account() -> tuple[Response, int]:
    """Create an account: {name, balance|equity, pos_mode, demo, read_only[, api_key, api_secret, passphrase]}."""
    data = body()
    allowed = ("balance", "equity", "pos_mode", "demo", "read_only", "api_key", "api_secret", "passphrase")
    created = sim().exchange.create_account(str(data.get("name") or ""),
                                            **{k: data[k] for k in allowed if k in data})
    return jsonify(created), 201


@bp.route("/accounts/<name>", methods=["POST", "PATCH"])
def update_account(name: str) -> Response:
    """Change an account: {balance, demo, read_only, pos_mode} (any subset)."""
    data = body()
    changes = {k: data[k] for k in ("balance", "demo", "read_only", "pos_mode") if k in data}
    return jsonify(sim().exchange.update_account(name, **changes))


@bp.get("/accounts/<name>/positions")
def account_positions(name: str) -> Response:
    """An account's positions in Bitget's all-position shape."""
    ex = sim().exchange
    return jsonify(ex.positions_view(ex.account(name)))


@bp.route("/faults", methods=["GET", "PUT", "POST"])
def faults() -> Response:
    """Read or replace the fault config {prefix: {latency_ms, jitter_ms, p_429, p_5xx, p_lost}}."""
    if request.method == "GET":
        return jsonify(sim().faults.config())
    return jsonify(sim().faults.configure(body()))


@bp.route("/limits", methods=["GET", "PUT", "POST"])
def limits() -> Response:
    """Read or change the rate limits: {enabled, ip_per_minute, lockout_seconds, ...} (keys given change).

    A change starts the limiter afresh (windows and lockouts are forgotten).
    """
    if request.method == "GET":
        return jsonify(sim().limits.config.to_json())
    data = request.get_json(silent=True)
    if not isinstance(data, (dict, bool)):
        raise ValueError('send a JSON object, e.g. {"enabled": false}')
    return jsonify(sim().limits.configure(data))


@bp.post("/limits/reset")
def reset_limits() -> Response:
    """Forget every rate-limit window and lockout (the config stays)."""
    sim().limits.reset()
    return jsonify({"ok": True})


@bp.route("/variants", methods=["GET", "PUT", "POST"])
def variants() -> Response:
    """Read or change the unconfirmed behaviours: {name: option} (PUT replaces all, POST changes those given)."""
    settings = sim().exchange.variants
    if request.method != "GET":
        data = request.get_json(silent=True)
        if not isinstance(data, dict):
            raise ValueError('send a JSON object, e.g. {"second_pos_tpsl": "replace"}')
        settings.configure(data, replace=request.method == "PUT")
    return jsonify({"variants": settings.snapshot(), "described": settings.describe()})


@bp.get("/symbols")
def symbols() -> Response:
    """Every symbol's symbolStatus."""
    return jsonify(sim().exchange.symbol_statuses())


@bp.post("/symbols/<symbol>")
def set_symbol_status(symbol: str) -> Response:
    """Set a symbol's symbolStatus: {symbolStatus: normal|listed|maintain|limit_open|restrictedAPI|off}."""
    data = body()
    return jsonify(sim().exchange.set_symbol_status(symbol, str(data.get("symbolStatus") or data.get("status") or "")))


@bp.get("/prices")
def prices() -> Response:
    """Every symbol's mark price."""
    return jsonify(sim().exchange.prices_snapshot())


@bp.post("/price")
def set_price() -> Response:
    """Set a mark price: {symbol, price}; TP/SL plans and limit orders react at once."""
    data = body()
    price = sim().exchange.set_price(str(data.get("symbol") or ""), str(data.get("price") or ""))
    return jsonify({"symbol": str(data.get("symbol")).upper(), "price": fmt(price)})


@bp.post("/tick")
def tick() -> Response:
    """Advance the seeded walk: {n} steps (default 1)."""
    steps = int(body().get("n") or 1)
    ex = sim().exchange
    for _ in range(max(0, min(steps, 10_000))):
        ex.tick()
    return jsonify(ex.prices_snapshot())


@bp.get("/stats")
def stats() -> Response:
    """Request counts per API key, path and status since the last reset, and rate-limit refusals."""
    return jsonify(sim().stats.snapshot(sim().exchange.key_names()))


@bp.get("/requests")
def recent_requests() -> Response:
    """The signed requests that arrived since ?since=ms (sim clock), oldest first: {ts, account, path, ip}."""
    since = request.args.get("since", "0")
    if not since.isdigit():
        raise ValueError("since must be a time in milliseconds")
    return jsonify(sim().stats.requests_since(int(since), sim().exchange.key_names()))


@bp.post("/stats/reset")
def reset_stats() -> Response:
    """Zero the request counters (and the rate limiter's counters, windows and lockouts)."""
    sim().stats.reset()
    return jsonify({"ok": True})


@bp.get("/orders")
def order_log() -> Response:
    """Every executed order (fill): ?account=&symbol=&since=ms filter."""
    since = request.args.get("since")
    rows = sim().exchange.order_log_rows(request.args.get("account") or None, request.args.get("symbol") or None,
                                         int(since) if since else None)
    return jsonify(rows)


@bp.get("/max-held")
def max_held() -> Response:
    """Largest position size ever held per account, symbol and holdSide."""
    return jsonify(sim().exchange.max_held_rows())


@bp.post("/orders/reset")
@bp.post("/max-held/reset")
def reset_observations() -> Response:
    """Forget the order log and the max-held table."""
    sim().exchange.reset_observations()
    return jsonify({"ok": True})


@bp.post("/trade")
def trade() -> Response:
    """Operate an account without signing: {account, action: open|close|close_all|set_tpsl|cancel, ...}."""
    data = body()
    params = {k: v for k, v in data.items() if k not in ("account", "action")}
    return jsonify(sim().exchange.trade(str(data.get("account") or ""), str(data.get("action") or ""), **params))


@bp.post("/reset")
def reset() -> Response:
    """Drop every account and restart prices from the seed."""
    sim().exchange.reset()
    return jsonify({"ok": True})
