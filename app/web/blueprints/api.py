"""JSON API under /api: login session (with CSRF header) or Authorization: Bearer <API_TOKEN>."""
from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify, request
from werkzeug.exceptions import HTTPException

from ...accounts import service as accounts
from ...errors import CopierError, ExchangeRefusedError, ValidationError

bp = Blueprint("api", __name__, url_prefix="/api")


def request_json() -> Any:
    """The parsed JSON body (None when it is not JSON); a body nested too deeply to parse is a 422, not a 500."""
    try:
        return request.get_json(silent=True)
    except RecursionError:
        raise ValidationError("The JSON body is nested too deeply.") from None


def json_body() -> dict[str, Any]:
    """The request's JSON object, or a 422."""
    data = request_json()
    if not isinstance(data, dict):
        raise ValidationError("Send a JSON object with Content-Type: application/json.")
    return data


@bp.errorhandler(CopierError)
def copier_error(exc: CopierError):
    """Service errors as {"error": {...}} with their status."""
    return jsonify(exc.to_dict()), exc.status


@bp.errorhandler(HTTPException)
def http_error(exc: HTTPException):
    """404/405/... as JSON too."""
    return jsonify({"error": {"code": exc.name.lower().replace(" ", "_"), "message": exc.description, "field": None}}), exc.code


@bp.get("/accounts")
def list_accounts():
    """All accounts (secrets never included)."""
    return jsonify({"accounts": [accounts.account_to_dict(a) for a in accounts.list_accounts()]})


UNCHECKED_HINT = ' To store the keys without checking them (e.g. while the exchange is down), send "verify": false.'


def pop_verify_flag(body: dict[str, Any]) -> bool:
    """The optional "verify" flag of an account write (default true: check new keys before storing them)."""
    value = body.pop("verify", True)
    if not isinstance(value, bool):
        raise ValidationError('"verify" must be true or false (a JSON boolean).', field="verify")
    return value


def with_unchecked_hint(exc: ExchangeRefusedError) -> ExchangeRefusedError:
    """The refusal, plus how to save anyway."""
    return ExchangeRefusedError(exc.message + UNCHECKED_HINT, bitget_code=exc.bitget_code)


@bp.post("/accounts")
def create_account():
    """Add an account; its keys are verified first unless "verify": false."""
    body = json_body()
    verify = pop_verify_flag(body)
    try:
        account = accounts.create_account(body, verify=verify, source="json")
    except ExchangeRefusedError as exc:
        raise with_unchecked_hint(exc) from exc
    return jsonify(accounts.account_to_dict(account)), 201


@bp.get("/accounts/<int:account_id>")
def get_account(account_id: int):
    """One account."""
    return jsonify(accounts.account_to_dict(accounts.get_account(account_id)))


@bp.patch("/accounts/<int:account_id>")
def update_account(account_id: int):
    """Change an account (omitted or blank secrets are kept; new keys are verified first unless "verify": false)."""
    body = json_body()
    verify = pop_verify_flag(body)
    try:
        account = accounts.update_account(account_id, body, verify=verify, source="json")
    except ExchangeRefusedError as exc:
        raise with_unchecked_hint(exc) from exc
    return jsonify(accounts.account_to_dict(account))


@bp.delete("/accounts/<int:account_id>")
def delete_account(account_id: int):
    """Remove an account."""
    accounts.delete_account(account_id)
    return jsonify({"deleted": account_id})


@bp.post("/accounts/<int:account_id>/verify")
def verify_account(account_id: int):
    """Check the keys against the exchange."""
    return jsonify(accounts.verify_account(account_id))


@bp.post("/accounts/<int:account_id>/reset-loss")
def reset_loss(account_id: int):
    """Clear a fired loss limit so the client may open again (the peak restarts from now)."""
    from ...engine.replication.loss import reset_loss_protection

    account = accounts.get_account(account_id)
    reset_loss_protection(account)
    return jsonify(accounts.account_to_dict(account))


@bp.get("/accounts/<int:account_id>/balance")
def account_balance(account_id: int):
    """Live futures balance."""
    return jsonify(accounts.fetch_balance(account_id))


@bp.get("/accounts/<int:account_id>/positions")
def account_positions(account_id: int):
    """Live open positions."""
    return jsonify({"positions": accounts.fetch_positions(account_id)})


# ----- replication ------------------------------------------------------------------------------------
def trigger() -> str:
    """Who asked: an API client with the token, or the dashboard (operator session)."""
    from flask import g

    return "api" if getattr(g, "via_token", False) else "button"


def action_body(allowed: tuple[str, ...]) -> dict[str, Any]:
    """An optional JSON object with only the allowed fields."""
    if not request.data:
        return {}
    data = request_json()
    if not isinstance(data, dict):
        raise ValidationError("Send a JSON object (or nothing).")
    unknown = [k for k in data if k not in allowed]
    if unknown:
        raise ValidationError(f"Unknown field {str(unknown[0])[:40]!r}.", field=str(unknown[0])[:40])
    return data


def require_confirm(data: dict[str, Any]) -> None:
    """Destructive actions need {"confirm": true}."""
    if data.get("confirm") is not True:
        raise ValidationError('Add "confirm": true to close positions.', field="confirm")


def service():
    """The replication service."""
    from flask import current_app

    return current_app.extensions["replication"]


def finished(report: dict[str, Any]):
    """Announce a run and return it."""
    from flask import current_app

    from ...notify import notify_run

    notify_run(current_app, report)
    return jsonify(report)


@bp.post("/replicate")
def replicate():
    """Replicate positions and TP/SL to every enabled client."""
    action_body(())
    return finished(service().replicate(trigger()))


@bp.post("/replicate/preview")
def preview():
    """The plan per client; nothing is sent."""
    action_body(())
    return jsonify(service().preview(trigger()))


@bp.post("/tpsl")
def copy_tpsl():
    """Copy the master's TP/SL to every client."""
    action_body(())
    return finished(service().replicate(trigger(), positions=False))


@bp.post("/sync/<int:account_id>")
def sync_one(account_id: int):
    """Replicate to one client."""
    action_body(())
    if accounts.get_account(account_id).role != "client":
        raise ValidationError("Sync works on a client; this account is the master.")
    return finished(service().replicate(trigger(), account_ids=[account_id]))


@bp.post("/close-all")
def close_all():
    """Close every position on every enabled account, master included."""
    data = action_body(("confirm",))
    require_confirm(data)
    return finished(service().close_all(trigger()))


@bp.post("/close-symbol")
def close_symbol():
    """Close one symbol on every enabled account."""
    from ...accounts.validation import parse_symbols

    data = action_body(("confirm", "symbol"))
    symbol = parse_symbols(data.get("symbol") if isinstance(data.get("symbol"), str) else None, "symbol")
    if not symbol or "," in symbol:
        raise ValidationError("Give one symbol, e.g. BTCUSDT.", field="symbol")
    require_confirm(data)
    return finished(service().close_all(trigger(), symbol=symbol))


@bp.get("/runs")
def runs():
    """Recent runs (filters: action, status, account, from, to as in the history page)."""
    from ...engine.replication.runs import query_runs, run_to_dict
    from .dashboard import history_filters

    return jsonify({"runs": [run_to_dict(r, with_results=False) for r in query_runs(**history_filters(), limit=100)]})


@bp.get("/runs/<int:run_id>")
def run(run_id: int):
    """One run with its per-account results."""
    from ...engine.replication.runs import run_to_dict
    from ...errors import NotFoundError
    from ...store.extensions import db
    from ...store.models import Run

    row = db.session.get(Run, run_id)
    if row is None:
        raise NotFoundError(f"No run with id {run_id}.")
    return jsonify(run_to_dict(row))


@bp.get("/state")
def state():
    """The dashboard's live state (from the cache)."""
    from flask import current_app

    from ..dashboard_state import build_state

    return jsonify(build_state(current_app))


@bp.get("/equity")
def equity():
    """Equity series for the charts."""
    from ...feeds.snapshots import equity_series

    return jsonify(equity_series())


@bp.route("/auto-follow", methods=["GET", "POST"])
def auto_follow():
    """Read or set the auto-follow toggle: {"on": true|false}; on again clears the emergency-close notice."""
    from flask import current_app

    from ...feeds.autofollow import set_by_operator
    from ...feeds.poller import auto_follow_enabled

    if request.method == "POST":
        data = action_body(("on",))
        if not isinstance(data.get("on"), bool):
            raise ValidationError('Send {"on": true} or {"on": false}.', field="on")
        set_by_operator(data["on"])
    return jsonify({"on": auto_follow_enabled(current_app)})


@bp.post("/refresh")
def refresh():
    """Re-read every account now."""
    from flask import current_app

    from ...engine.cluster.shards import clients_read_elsewhere
    from ...feeds.refresh import refresh_accounts

    action_body(())
    app = current_app._get_current_object()  # a real app: workers run outside the request
    failed = refresh_accounts(app)
    # ENGINE=celery: the clients are re-read by their shards' workers, in the background
    return jsonify({"refreshed": True, "failed": failed, "clients_on_shards": clients_read_elsewhere(app)})
