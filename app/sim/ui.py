"""The operator's page at /_sim/: trade one account by hand and move prices (forms only, no script)."""
from __future__ import annotations

import hmac
from typing import Any

from flask import Blueprint, Response, abort, redirect, render_template, request, url_for

from .admin import sim
from .contracts import CONTRACTS
from .errors import SimError
from .numbers import fmt, to_decimal

bp = Blueprint("sim_ui", __name__, url_prefix="/_sim")


def default_account(names: list[str]) -> str:
    """The first account named like 'Master', else the first one."""
    return next((n for n in names if "master" in n.lower()), names[0] if names else "")


@bp.get("/")
def page() -> str:
    """Balances, positions, orders and prices of one account, with forms to trade it."""
    return render_page(request.args.get("account") or "", msg=request.args.get("msg", ""),
                       err=request.args.get("err", ""), refresh=request.args.get("refresh", "") == "1")


def render_page(name: str, *, msg: str = "", err: str = "", refresh: bool = False,
                created: dict[str, Any] | None = None) -> str:
    """The page for one account (the master-like one when name is blank); `created` shows new credentials."""
    ex = sim().exchange
    accounts = ex.list_accounts()
    names = [a["name"] for a in accounts]
    name = name or default_account(names)
    view: dict[str, Any] = {"positions": [], "orders": [], "balance": None, "account": None}
    if name in ex.accounts:
        acc = ex.account(name)
        with ex.lock:
            m = ex.metrics(acc)
            view["balance"] = {"balance": fmt(m.balance), "equity": fmt(m.equity), "available": fmt(m.available),
                               "upnl": fmt(m.upnl)}
            view["account"] = next(a for a in accounts if a["name"] == name)
            view["positions"] = ex.positions_view(acc)
            view["orders"] = ex.pending_orders(acc)["entrustedList"] or []
    return render_template(
        "sim/page.html", accounts=accounts, selected=name, prices=ex.prices_snapshot(), symbols=list(CONTRACTS),
        token=sim().form_token, msg=msg, err=err, refresh=refresh, created=created,
        pos_modes=POS_MODES, ws=sim().ws.status() if sim().ws else None, **view)


POS_MODES = (("hedge_mode", "Hedge (long and short apart)"), ("one_way_mode", "One-way"))


@bp.post("/ui/account")
def create_account() -> Response:
    """Create an account and show its API key, secret and passphrase once, on this answer only.

    The credentials are rendered into the page answering the POST (never into a redirect URL), with
    Cache-Control: no-store, so reloading or going back does not show them again.
    """
    f = _checked_form()
    name = f.get("name", "").strip()
    balance = f.get("balance", "").strip() or "10000"
    pos_mode = f.get("pos_mode") or "hedge_mode"
    if not name or len(name) > 64:
        return _back(f.get("account", ""), err="Give the account a name (at most 64 characters).")
    if pos_mode not in dict(POS_MODES):
        return _back(f.get("account", ""), err="Choose hedge or one-way position mode.")
    amount = to_decimal(balance)
    if amount is None or amount < 0:
        return _back(f.get("account", ""), err="Account not created: the balance must be a number of USDT, 0 or more.")
    try:
        created = sim().exchange.create_account(name, amount, pos_mode=pos_mode)
    except SimError as exc:
        return _back(f.get("account", ""), err=f"Account not created: {exc.msg}.")
    answer = Response(render_page(name, msg=f"Created account {name}.", created=created))
    answer.headers["Cache-Control"] = "no-store"
    return answer


def _checked_form() -> dict[str, str]:
    """The POSTed form after checking the per-process form token (403 otherwise)."""
    form = request.form.to_dict()
    if not hmac.compare_digest(form.get("token", "").encode(), sim().form_token.encode()):
        abort(403)
    return form


def _back(account: str, msg: str = "", err: str = "") -> Response:
    return redirect(url_for("sim_ui.page", account=account or None, msg=msg or None, err=err or None), code=303)


def _run(form: dict[str, str], action: str, params: dict[str, Any], done: str) -> Response:
    account = form.get("account", "")
    try:
        sim().exchange.trade(account, action, **params)
    except SimError as exc:
        return _back(account, err=f"{exc.code}: {exc.msg}")
    return _back(account, msg=done)


@bp.post("/ui/open")
def open_position() -> Response:
    """Open or add to a position."""
    f = _checked_form()
    params = {"symbol": f.get("symbol", ""), "side": f.get("side", ""), "size": f.get("size", ""),
              "leverage": f.get("leverage") or None, "margin_mode": f.get("margin_mode") or None,
              "order_type": f.get("order_type") or "market", "price": f.get("price") or None}
    return _run(f, "open", params, f"Opened {params['side']} {params['size']} {params['symbol']}")


@bp.post("/ui/close")
def close_position() -> Response:
    """Close a position side, wholly or partly (size blank = all)."""
    f = _checked_form()
    params = {"symbol": f.get("symbol", ""), "side": f.get("side", ""), "size": f.get("size") or None}
    return _run(f, "close", params, f"Closed {params['size'] or 'all of'} {params['symbol']} {params['side']}")


@bp.post("/ui/tpsl")
def set_tpsl() -> Response:
    """Set or clear (blank) a position's TP and SL."""
    f = _checked_form()
    params = {"symbol": f.get("symbol", ""), "side": f.get("side", ""), "tp": f.get("tp", ""), "sl": f.get("sl", "")}
    return _run(f, "set_tpsl", params, f"TP/SL updated on {params['symbol']} {params['side']}")


@bp.post("/ui/close-all")
def close_all() -> Response:
    """Flash close every position of the account."""
    f = _checked_form()
    return _run(f, "close_all", {}, "Closed every position")


@bp.post("/ui/cancel")
def cancel_order() -> Response:
    """Cancel a resting order."""
    f = _checked_form()
    return _run(f, "cancel", {"order_id": f.get("order_id", ""), "symbol": f.get("symbol", "")}, "Order canceled")


@bp.post("/ui/ws")
def ws_fault() -> Response:
    """Break the private WebSocket on purpose: drop every connection, refuse or accept logins, lose pushes."""
    f = _checked_form()
    ws = sim().ws
    if ws is None:
        return _back(f.get("account", ""), err="This simulator runs without its WebSocket.")
    fault = f.get("fault", "")
    changes = {"drop": {"drop": True}, "refuse": {"refuse_logins": True, "drop": True},
               "accept": {"refuse_logins": False}, "lose": {"lose_pushes": 3}}.get(fault)
    if changes is None:
        return _back(f.get("account", ""), err="Unknown WebSocket fault.")
    ws.configure(changes)
    done = {"drop": "Dropped every WebSocket connection", "refuse": "WebSocket logins refused, connections dropped",
            "accept": "WebSocket logins accepted again", "lose": "The next 3 pushes will be lost"}[fault]
    return _back(f.get("account", ""), msg=done)


@bp.post("/ui/price")
def set_price() -> Response:
    """Set a symbol's mark price."""
    f = _checked_form()
    try:
        price = sim().exchange.set_price(f.get("symbol", ""), f.get("price", ""))
    except SimError as exc:
        return _back(f.get("account", ""), err=f"{exc.code}: {exc.msg}")
    return _back(f.get("account", ""), msg=f"{f.get('symbol', '').upper()} mark set to {fmt(price)}")
