"""The dashboard's state JSON, built from the cache only (a page view never calls the exchange)."""
from __future__ import annotations

import time
from decimal import Decimal
from typing import Any

from flask import Flask

from ..engine.replication import performance
from ..engine.replication.outcomes import skip_texts
from ..engine.replication.plan import ClientPlan
from ..engine.replication.planner import plan_replication
from ..engine.replication.runs import run_to_dict
from ..engine.replication.service import AUTOMATIC_TRIGGERS, cached_client_state, link_of
from ..engine.replication.sizing import fmt_decimal
from ..engine.replication.state import Link, MasterState
from ..feeds.autofollow import active_off_reason, off_banner
from ..feeds.poller import auto_follow_enabled
from ..feeds.watchdog import current_problems
from ..store.extensions import db
from ..store.models import Account, PositionLink, Run, RunResult
from ..store.state import AccountView
from .budget_status import budget_status
from .serialize import position_to_dict, text


def build_state(app: Flask) -> dict[str, Any]:
    """Everything the main page shows, as JSON."""
    cache = app.extensions["state"].snapshot()  # every view at once (celery engine: one pipelined Redis read)
    views = cache.views
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
    master_pnl = add_performance(master, master_view, clients, views)
    last_run = latest_run()
    poller = app.extensions["poller"].status
    return {
        "now": time.time(),
        "exchange": app.config["EXCHANGE"],
        "auto_follow": auto_follow_enabled(app),
        "auto_follow_off_reason": active_off_reason(app),
        "poller": {"last_success_at": poller.last_success_at, "last_error": poller.last_error,
                   "failures": poller.failures, "pending": poller.pending, "last_changes": poller.last_changes},
        "budget": budget_status(app),
        "master_stream": app.extensions["master_feed"].status.to_json(),
        "cluster": cluster_status(app),
        "master": {**master_row(master, master_view), "pnl": master_pnl} if master else None,
        "clients": clients,
        "sync_counts": sync_counts(clients),
        "precision": precision(contracts, master_view, views.values()),
        "totals": {**totals(clients), "pnl": performance.totals(clients)},
        "last_run": run_to_dict(last_run) if last_run else None,
        "banners": current_problems(app, accounts) + [b for b in [off_banner(app)] if b],
    }


def cluster_status(app: Flask) -> dict[str, Any] | None:
    """ENGINE=celery: each shard's heartbeat (alive, age, clients, egress, budget); None on the local engine."""
    cluster = app.extensions["replication"].cluster
    if cluster is None:
        return None
    shards = cluster.shards()
    return {"engine": "celery", "shards": shards, "state_problem": getattr(app.extensions["state"], "problem", None)}


def add_performance(master: Account | None, master_view: AccountView | None, clients: list[dict[str, Any]],
                    views: dict[int, AccountView]) -> dict[str, Any] | None:
    """Each client's PnL and return per window next to the master's (stored aggregates and the cache only);
    returns the master's own windows."""
    states = performance.load_all()
    now = performance.current_ms()
    master_state = states.get(master.id) if master else None
    for client in clients:
        client["pnl"] = performance.client_windows(states.get(client["id"]), views.get(client["id"]), master_state,
                                                   master_view, now)
    return performance.master_windows(master_state, master_view, now)


def _contracts(app: Flask) -> dict:
    try:
        return app.extensions["gateway"].contracts_for_page()  # never waits long for a down exchange
    except Exception:  # contracts unavailable (exchange down): sync state becomes "unknown"
        return {}


def latest_run() -> Run | None:
    """The run the "Last run" panel shows: the newest real run.

    Previews are not runs, and a poller pass without results is left out: while it is running it may still
    turn out to have nothing to send (then it is discarded), so it must not hide the last run that acted.
    """
    has_results = db.session.query(RunResult.id).filter(RunResult.run_id == Run.id).exists()
    return (db.session.query(Run).filter(Run.action != "preview")
            .filter(db.or_(Run.trigger.notin_(AUTOMATIC_TRIGGERS), has_results))
            .order_by(Run.id.desc()).first())


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
    row["sync"], row["sync_detail"], row["sync_items"] = sync_verdict(account, view, links, master, contracts, cache)
    row["sizing_now"] = sizing_in_use(account, view, links, master)
    row["loss"] = {"daily_limit": text(account.daily_loss_limit), "drawdown_limit_pct": text(account.drawdown_limit_pct),
                   "action": account.loss_action, "fired_at": account.loss_fired_at.isoformat() if account.loss_fired_at else None,
                   "reason": account.loss_fired_reason}
    return row


def sync_state(account: Account, view: AccountView | None, links: list[Link], master: MasterState | None,
               contracts: dict, cache) -> tuple[str, str]:
    """The sync state and its detail text (see sync_verdict)."""
    sync, detail, _ = sync_verdict(account, view, links, master, contracts, cache)
    return sync, detail


def sync_verdict(account: Account, view: AccountView | None, links: list[Link], master: MasterState | None,
                 contracts: dict, cache) -> tuple[str, str, list[str]]:
    """(state, detail, items): in_sync / not_copied / drift / error / paused / disabled / unknown.

    'in sync' means the client holds its target for every master position (replicate would send nothing and
    skips nothing); 'not copied' means replicate would send nothing, but a rule keeps the client off a master
    position (the items say which and why); 'drift' lists every operation replicate would send.
    """
    if not account.enabled:
        return "disabled", "disabled: the copier ignores this account", []
    if account.paused:
        return "paused", "paused: the copier leaves this client alone", []
    if view is None or view.fetched_at is None:
        return ("error", view.error, []) if view and view.error else ("unknown", "not read yet", [])
    if view.error:
        return "error", view.error, []
    if master is None or not contracts or view.pos_mode is None:
        return "unknown", "waiting for the master's state", []
    state = cached_client_state(account, view, cache, links)
    if state is None:
        return "unknown", "not read yet", []
    plan = plan_replication(master, [state], contracts)[0]
    if plan.operations:
        items = [op.reason for op in plan.operations]
        return "drift", "; ".join(items), items
    not_copied = _not_copied(plan, master, state, contracts)
    if not_copied:
        return "not_copied", "not copied: " + "; ".join(not_copied), not_copied
    skipped = f" ({len(plan.skips)} skipped: {skip_texts(plan)[0]})" if plan.skips else ""
    return "in_sync", "in sync" + skipped, skip_texts(plan)


def _not_copied(plan: ClientPlan, master: MasterState, state, contracts: dict) -> list[str]:
    """The skips that keep the client off its target for a master position (TP/SL skips do not)."""
    master_keys = {p.key for p in master.positions if p.total > 0}
    if not any((s.symbol, s.hold_side) in master_keys for s in plan.skips):
        return []
    sizes_only = plan_replication(master, [state], contracts, tpsl=False)[0]  # skips of the sizes alone
    kept = ClientPlan(plan.account_id, plan.name,
                      skips=tuple(s for s in sizes_only.skips if (s.symbol, s.hold_side) in master_keys))
    return skip_texts(kept)


def sync_counts(clients: list[dict[str, Any]]) -> dict[str, int]:
    """How many clients are in each sync state (the header's counts)."""
    counts = dict.fromkeys(("in_sync", "not_copied", "drift", "error", "paused", "disabled", "unknown"), 0)
    for client in clients:
        counts[client["sync"]] = counts.get(client["sync"], 0) + 1
    return counts


def sizing_in_use(account: Account, view: AccountView | None, links: list[Link],
                  master: MasterState | None) -> dict[str, Any]:
    """The sizing factor that applies: live for new copies, the frozen link factor for copies already open."""
    mode, value = account.sizing_mode, account.sizing_value
    live: Decimal | None = None
    client_equity = view.equity if view is not None else None
    if mode == "equity_ratio":
        if client_equity is not None and master is not None and master.equity > 0:
            live = client_equity / master.equity * value
            explain = (f"new copies: client equity {fmt_decimal(client_equity, 2)} / master equity "
                       f"{fmt_decimal(master.equity, 2)} (incl. its unrealized PnL) x {fmt_decimal(value)} "
                       f"= {fmt_decimal(live, 4)}")
        else:
            explain = "new copies: client equity / master equity x " + fmt_decimal(value) + " (equity not read yet)"
        shown = f"equity ratio {fmt_decimal(live, 4)}" if live is not None else "equity ratio —"
    elif mode == "multiplier":
        live = value
        shown = f"multiplier {fmt_decimal(value)}"
        explain = f"new copies: {fmt_decimal(value)} x the master's size"
    elif mode == "fixed_notional":
        shown = f"fixed notional {fmt_decimal(value)} USDT"
        explain = f"new copies: {fmt_decimal(value)} USDT of notional at the mark per position"
    elif mode == "fixed_quantity":
        sizes = ", ".join(f"{symbol} {fmt_decimal(size)}" for symbol, size in sorted(account.fixed_quantities.items()))
        shown = "fixed quantity"
        explain = f"new copies: a fixed size per symbol ({sizes or 'none set'}); other symbols are not copied"
    else:
        shown = f"fixed margin {fmt_decimal(value)} USDT"
        explain = f"new copies: {fmt_decimal(value)} USDT of margin per position"
    held = {p.key for p in view.positions} if view is not None else set()
    copies = [{"symbol": link.symbol, "hold_side": link.hold_side, "factor": fmt_decimal(link.factor, 4)}
              for link in sorted(links, key=lambda li: li.key) if link.key in held and link.ended_ms is None]
    if copies:
        factors = sorted({c["factor"] for c in copies})
        shown += " · open copies x" + (factors[0] if len(factors) == 1 else " " + "/".join(factors))
        explain += "; open copies keep the factor frozen when they were opened: " + ", ".join(
            f"{c['symbol']} {c['hold_side']} x{c['factor']}" for c in copies)
    return {"mode": mode, "value": fmt_decimal(value), "new_copies": fmt_decimal(live, 4) if live is not None else None,
            "text": shown, "explain": explain, "copies": copies}


def precision(contracts: dict, master_view: AccountView | None, views) -> dict[str, dict[str, int]]:
    """Decimals of the price tick and the size step of every symbol on the page (to show prices and sizes)."""
    symbols = {p.symbol for v in views if v is not None for p in v.positions}
    if master_view is not None:
        symbols |= {p.symbol for p in master_view.positions}
    out = {}
    for symbol in sorted(symbols):
        contract = contracts.get(symbol)
        if contract is not None:
            out[symbol] = {"price": _decimals(contract.tick), "size": _decimals(contract.size_step)}
    return out


def _decimals(step: Decimal) -> int:
    exponent = step.normalize().as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0


def totals(clients: list[dict[str, Any]]) -> dict[str, Any]:
    """Sums across clients."""
    def total(key: str) -> str:
        return format(sum((Decimal(c[key]) for c in clients if c.get(key) is not None), Decimal(0)), "f")

    return {"equity": total("equity"), "available": total("available"), "unrealized_pl": total("unrealized_pl"),
            "positions": sum(c["positions_count"] for c in clients), "clients": len(clients)}
