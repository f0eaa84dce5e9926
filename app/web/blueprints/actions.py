"""HTML form actions (the dashboard's buttons without JavaScript): same service as the JSON API."""
from __future__ import annotations

from flask import Blueprint, current_app, flash, redirect, request, url_for

from ...errors import CopierError
from ...feeds.autofollow import set_by_operator
from ...notify import notify_run

bp = Blueprint("actions", __name__, url_prefix="/actions")


def _summary(report: dict) -> str:
    counts = report.get("counts", {})
    return (f"{report['action']}: {counts.get('ok', 0)} ok, {counts.get('skipped', 0)} skipped, "
            f"{counts.get('failed', 0)} failed ({report.get('duration_ms')} ms).")


def _run(fn, *args, **kwargs):
    try:
        report = fn(*args, **kwargs)
    except CopierError as exc:
        flash(exc.message, "error")
    else:
        notify_run(current_app, report)
        flash(_summary(report), "error" if report["status"] in ("failed", "partial") else "ok")
    return redirect(url_for("dashboard.index"))


@bp.post("/replicate")
def replicate():
    """Replicate positions and TP/SL to every client."""
    return _run(current_app.extensions["replication"].replicate, "button")


@bp.post("/tpsl")
def tpsl():
    """Copy TP/SL to every client."""
    return _run(current_app.extensions["replication"].replicate, "button", positions=False)


@bp.post("/sync/<int:account_id>")
def sync(account_id: int):
    """Replicate to one client."""
    from ...accounts.service import get_account

    try:
        if get_account(account_id).role != "client":
            raise CopierError("Sync works on a client; this account is the master.")
    except CopierError as exc:  # unknown id or the master: say so, record no run
        flash(exc.message, "error")
        return redirect(url_for("dashboard.index"))
    return _run(current_app.extensions["replication"].replicate, "button", account_ids=[account_id])


@bp.post("/close-all")
def close_all():
    """Close every position on every account (requires typing CLOSE)."""
    if request.form.get("confirm_text", "").strip() != "CLOSE":
        flash("Type CLOSE to confirm closing every position on every account.", "error")
        return redirect(url_for("dashboard.index"))
    return _run(current_app.extensions["replication"].close_all, "button")


@bp.post("/close-symbol")
def close_symbol():
    """Close one symbol on every account."""
    symbol = request.form.get("symbol", "").strip().upper()
    if not symbol.isalnum() or request.form.get("confirm") != "yes":
        flash("Choose a symbol and confirm.", "error")
        return redirect(url_for("dashboard.index"))
    return _run(current_app.extensions["replication"].close_all, "button", symbol=symbol)


@bp.post("/auto-follow")
def auto_follow():
    """Turn auto-follow on or off (on again clears the emergency-close notice)."""
    on = request.form.get("on") == "1"
    set_by_operator(on)
    flash(f"Auto-follow is {'on' if on else 'off'}.")
    return redirect(url_for("dashboard.index"))


@bp.post("/refresh")
def refresh():
    """Re-read every account from the exchange now."""
    from ...engine.cluster.shards import clients_read_elsewhere
    from ...feeds.refresh import refresh_accounts

    app = current_app._get_current_object()  # a real app: workers run outside the request
    failed = refresh_accounts(app)
    done = ("Refreshed the master; each shard's worker is re-reading its clients." if clients_read_elsewhere(app)
            else "Refreshed all accounts.")
    flash(done + (f" {failed} could not be read." if failed else ""), "error" if failed else "ok")
    return redirect(url_for("dashboard.index"))
