"""The dashboard's state JSON, built from the cache only (a page view never calls the exchange)."""
from __future__ import annotations

import time
from decimal import Decimal
from typing import Any

from flask import Flask

from .autofollow import active_off_reason, off_banner
from .budget_status import budget_status
from .extensions import db
from .models import Account, PositionLink, Run, RunResult
from .poller import auto_follow_enabled
from .replication.planner import plan_replication
from .replication.runs import run_to_dict
from .replication.service import cached_client_state, link_of
from .replication.state import Link, MasterState
from .serialize import position_to_dict, text
from .state import AccountView
from .watchdog import current_problems


def build_state(app: Flask) -> dict[str, Any]:
    """Everything the main page shows, as JSON."""
    cache = app.extensions["state"]
    views = cache.all()
    accounts = db.session.query(Account).order_by(Account.role.desc(), Account.name).all()
    links: dict[int, list[Link]] = {}
    for row in db.session.query(PositionLink).all():
        links.setdefault(row.account_id, []).append(link_of(row))
    master = next((a for a in accounts if a.is_master), None)
    master_view = views.get(master.id) if master else None
    master_state = None
    if master_view and master_view.equity is not None:
        master_state = MasterState(equity=master_view.equity, positions=master_view.positions)
    contracts = _contracts(app)
    clients = [client_row(a, views.get(a.id), links.get(a.id, []), master_state, contracts, cache)
               for a in accounts if not a.is_master]
    latest = last_results()
    for client in clients:
        client["last_result"] = latest.get(client["id"])
    last_run = db.session.query(Run).filter(Run.action != "preview").order_by(Run.id.desc()).first()
    poller = app.extensions["poller"].status
    return {
        "now": time.time(),
        "exchange": app.config["EXCHANGE"],
        "auto_follow": auto_follow_enabled(app),
        "auto_follow_off_reason": active_off_reason(app),
        "poller": {"last_success_at": poller.last_success_at, "last_error": poller.last_error,
                   "failures": poller.failures, "pending": poller.pending, "last_changes": poller.last_changes},
        "budget": budget_status(app),
        "master": master_row(master, master_view) if master else None,
        "clients": clients,
        "totals": totals(clients),
        "last_run": run_to_dict(last_run) if last_run else None,
        "banners": current_problems(app, accounts) + [b for b in [off_banner(app)] if b],
    }


def _contracts(app: Flask) -> dict:
    try:
        return app.extensions["gateway"].contracts_for_page()  # never waits long for a down exchange
    except Exception:  # contracts unavailable (exchange down): sync state becomes "unknown"
        return {}


def last_results() -> dict[int, dict[str, Any]]:
    """Each account's most recent result of a real run (previews excluded), for the clients table."""
    newest = (db.session.query(db.func.max(RunResult.id)).join(Run, Run.id == RunResult.run_id)
              .filter(Run.action != "preview", RunResult.account_id.isnot(None))
              .group_by(RunResult.account_id))
    rows = (db.session.query(RunResult, Run).join(Run, Run.id == RunResult.run_id)
            .filter(RunResult.id.in_(newest)).all())
    return {r.account_id: {"status": r.status, "message": r.message, "run_id": run.id, "action": run.action,
                           "at": run.started_at.isoformat() if run.started_at else None}
            for r, run in rows}


def view_fields(view: AccountView | None) -> dict[str, Any]:
    """Balance numbers and freshness from a cached view."""
    if view is None:
        return {"equity": None, "available": None, "unrealized_pl": None, "margin_used": None,
                "updated_at": None, "error": None, "positions": []}
    return {
        "equity": text(view.equity), "available": text(view.available), "unrealized_pl": text(view.unrealized_pl),
        "margin_used": text(view.margin_used), "updated_at": view.fetched_at, "error": view.error,
        "auth_failed": view.auth_failed, "position_mode": view.pos_mode,
        "positions": [position_to_dict(p) for p in view.positions],
    }


def master_row(master: Account, view: AccountView | None) -> dict[str, Any]:
    """The master card."""
    return {"id": master.id, "name": master.name, "enabled": master.enabled, **view_fields(view)}


def client_row(account: Account, view: AccountView | None, links: list[Link], master: MasterState | None,
               contracts: dict, cache) -> dict[str, Any]:
    """One client row with its sync state."""
    row = {"id": account.id, "name": account.name, "enabled": account.enabled, "paused": account.paused,
           "sizing": f"{account.sizing_mode.replace('_', ' ')} x {account.sizing_value}", **view_fields(view)}
    row["positions_count"] = len(row["positions"])
    row["sync"], row["sync_detail"] = sync_state(account, view, links, master, contracts, cache)
    row["loss"] = {"daily_limit": text(account.daily_loss_limit), "drawdown_limit_pct": text(account.drawdown_limit_pct),
                   "action": account.loss_action, "fired_at": account.loss_fired_at.isoformat() if account.loss_fired_at else None,
                   "reason": account.loss_fired_reason}
    return row


def sync_state(account: Account, view: AccountView | None, links: list[Link], master: MasterState | None,
               contracts: dict, cache) -> tuple[str, str]:
    """in_sync / drift / error / paused / disabled / unknown: 'in sync' means replicate would send nothing."""
    if not account.enabled:
        return "disabled", "disabled: the copier ignores this account"
    if account.paused:
        return "paused", "paused: the copier leaves this client alone"
    if view is None or view.fetched_at is None:
        return ("error", view.error) if view and view.error else ("unknown", "not read yet")
    if view.error:
        return "error", view.error
    if master is None or not contracts or view.pos_mode is None:
        return "unknown", "waiting for the master's state"
    state = cached_client_state(account, view, cache, links)
    if state is None:
        return "unknown", "not read yet"
    plan = plan_replication(master, [state], contracts)[0]
    if plan.operations:
        return "drift", "; ".join(op.reason for op in plan.operations[:4])
    skipped = f" ({len(plan.skips)} skipped: {plan.skips[0].reason})" if plan.skips else ""
    return "in_sync", "in sync" + skipped


def totals(clients: list[dict[str, Any]]) -> dict[str, Any]:
    """Sums across clients."""
    def total(key: str) -> str:
        return format(sum((Decimal(c[key]) for c in clients if c.get(key) is not None), Decimal(0)), "f")

    return {"equity": total("equity"), "available": total("available"), "unrealized_pl": total("unrealized_pl"),
            "positions": sum(c["positions_count"] for c in clients), "clients": len(clients)}
