"""Reading runs back: JSON shape, filters for the history page and CSV export."""
from __future__ import annotations

import csv
import io
from datetime import datetime
from decimal import Decimal
from typing import Any

from ...store.extensions import db
from ...store.models import Run, RunResult


def run_to_dict(run: Run, with_results: bool = True) -> dict[str, Any]:
    """One run as JSON."""
    body: dict[str, Any] = {
        "run_id": run.id, "uid": run.uid, "action": run.action, "trigger": run.trigger, "detail": run.detail,
        "status": run.status, "started_at": run.started_at.isoformat() if run.started_at else None,
        "finished_at": run.finished_at.isoformat() if run.finished_at else None, "duration_ms": run.duration_ms,
        "counts": run.counts(), "summary": run_summary(run),
    }
    if with_results:
        body["results"] = [result_to_dict(r) for r in run.results]
    return body


def result_to_dict(result: RunResult) -> dict[str, Any]:
    """One account's result as JSON."""
    return {
        "account_id": result.account_id, "account_name": result.account_name, "status": result.status,
        "message": result.message, "orders": result.orders, "latency_ms": result.latency_ms,
    }


TPSL_KINDS = ("place_tpsl", "modify_tpsl", "cancel_tpsl")


def run_summary(run: Run) -> str:
    """What a run did, in a few words: "open BTCUSDT long on 3 clients", "close-all: 4 accounts flat"."""
    results = list(run.results)
    failed = sum(1 for r in results if r.status == "failed")
    tail = f"; {failed} failed" if failed else ""
    if run.action in ("close-all", "close-symbol"):
        flat = sum(1 for r in results if r.status == "ok")
        what = f"close {run.detail}" if run.action == "close-symbol" and run.detail else run.action
        return f"{what}: {flat} account{_s(flat)} flat{tail}"
    groups: dict[tuple[str, str, str], set[str]] = {}
    for r in results:
        for order in r.orders:
            kind = "TP/SL" if order.get("kind") in TPSL_KINDS else order.get("kind")
            if kind in ("open", "close", "TP/SL"):
                key = (kind, str(order.get("symbol") or ""), str(order.get("hold_side") or ""))
                groups.setdefault(key, set()).add(r.account_name)
    parts = [f"{kind} {symbol} {side} on {len(names)} client{_s(len(names))}".replace("  ", " ")
             for (kind, symbol, side), names in sorted(groups.items(), key=lambda g: (g[0][0] != "close", g[0]))]
    if len(parts) > 3:
        parts = parts[:3] + [f"+{len(parts) - 3} more"]
    if parts:
        return "; ".join(parts) + tail
    if run.status == "running":
        return "running"
    if not results:
        return "no account involved"
    skipped = sum(1 for r in results if r.status == "skipped")
    quiet = len(results) - failed - skipped
    words = [f"{quiet} in sync" if quiet else "", f"{skipped} skipped" if skipped else ""]
    return "nothing sent: " + ", ".join(w for w in words if w) + tail if any(words) else "nothing sent" + tail


def _s(count: int) -> str:
    return "" if count == 1 else "s"


def order_quality(order: dict[str, Any]) -> dict[str, Any]:
    """One order record with what the run page shows: slippage also in USDT (+ = worse than the master) and
    the time from detecting the master's change to the exchange's acknowledgement."""
    row = dict(order)
    row["slippage_usdt"] = None
    if order.get("detect_to_submit_ms") is not None and order.get("submit_to_ack_ms") is not None:
        row["detect_to_ack_ms"] = order["detect_to_submit_ms"] + order["submit_to_ack_ms"]
    try:
        fill, entry, size = (Decimal(str(order[k])) for k in ("fill_price", "master_entry", "size"))
    except (KeyError, TypeError, ArithmeticError):
        return row
    if order.get("slippage_pct") is not None and fill and entry:
        sign = 1 if order.get("hold_side") in ("long", "buy") else -1
        row["slippage_usdt"] = format(((fill - entry) * size * sign).quantize(Decimal("0.0001")), "f")
    return row


def query_runs(*, action: str | None = None, status: str | None = None, account_id: int | None = None,
               date_from: datetime | None = None, date_to: datetime | None = None, limit: int = 200) -> list[Run]:
    """Runs newest first, filtered."""
    query = db.session.query(Run).filter(Run.action != "preview")  # a preview sent nothing: not history
    if action:
        query = query.filter(Run.action == action)
    if status:
        query = query.filter(Run.status == status)
    if account_id:
        query = query.filter(Run.results.any(RunResult.account_id == account_id))
    if date_from:
        query = query.filter(Run.started_at >= date_from)
    if date_to:
        query = query.filter(Run.started_at < date_to)
    return query.order_by(Run.id.desc()).limit(limit).all()


CSV_COLUMNS = ["run_id", "started_at", "action", "trigger", "run_status", "duration_ms", "account", "status",
               "message", "latency_ms", "order_ids", "detect_to_submit_ms", "submit_to_ack_ms", "fill_price",
               "slippage_pct"]


def runs_csv(runs: list[Run], account_id: int | None = None) -> str:
    """One CSV row per account result (orders' ids and timings joined); only that account's with account_id."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for run in runs:
        for r in run.results:
            if account_id and r.account_id != account_id:
                continue
            orders = r.orders
            writer.writerow([
                run.id, run.started_at.isoformat(), run.action, run.trigger, run.status, run.duration_ms,
                r.account_name, r.status, r.message, r.latency_ms,
                " ".join(str(o.get("order_id")) for o in orders if o.get("order_id")),
                " ".join(str(o["detect_to_submit_ms"]) for o in orders if "detect_to_submit_ms" in o),
                " ".join(str(o["submit_to_ack_ms"]) for o in orders if "submit_to_ack_ms" in o),
                " ".join(str(o["fill_price"]) for o in orders if o.get("fill_price")),
                " ".join(str(o["slippage_pct"]) for o in orders if o.get("slippage_pct") is not None),
            ])
    return out.getvalue()
