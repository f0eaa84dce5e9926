"""Reading runs back: JSON shape, filters for the history page and CSV export."""
from __future__ import annotations

import csv
import io
from datetime import datetime
from typing import Any

from ..extensions import db
from ..models import Run, RunResult


def run_to_dict(run: Run, with_results: bool = True) -> dict[str, Any]:
    """One run as JSON."""
    body: dict[str, Any] = {
        "run_id": run.id, "uid": run.uid, "action": run.action, "trigger": run.trigger, "detail": run.detail,
        "status": run.status, "started_at": run.started_at.isoformat() if run.started_at else None,
        "finished_at": run.finished_at.isoformat() if run.finished_at else None, "duration_ms": run.duration_ms,
        "counts": run.counts(),
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


def query_runs(*, action: str | None = None, status: str | None = None, account_id: int | None = None,
               date_from: datetime | None = None, date_to: datetime | None = None, limit: int = 200) -> list[Run]:
    """Runs newest first, filtered."""
    query = db.session.query(Run)
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


def runs_csv(runs: list[Run]) -> str:
    """One CSV row per account result (orders' ids and timings joined)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for run in runs:
        for r in run.results:
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
