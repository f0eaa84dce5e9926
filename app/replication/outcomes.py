"""What one client's sync amounts to: one status and a message naming every operation, failure and skip."""
from __future__ import annotations

import time

from ..serialize import plain
from .apply import ApplyResult
from .jobs import ClientJob
from .plan import ClientPlan
from .recording import AccountOutcome
from .state import OP_OPEN, ClientState, MasterState


def preview_outcome(job: ClientJob, plan: ClientPlan, started: float) -> AccountOutcome:
    """What a preview shows for one client: the operations it would send, and the skips."""
    ops = [{"kind": op.kind, "symbol": op.symbol, "hold_side": op.hold_side,
            "size": plain(op.size), "reason": op.reason}
           for op in plan.operations]
    skips = skip_texts(plan)
    if ops:
        status, message = "ok", "; ".join(o["reason"] for o in ops)
    elif skips:
        status, message = "skipped", "; ".join(skips)
    else:
        status, message = "ok", "in sync: nothing to do"
    if ops and skips:
        message += " | skipped: " + "; ".join(skips)
    return AccountOutcome(job.account_id, job.name, status, message, operations=ops,
                          latency_ms=round((time.monotonic() - started) * 1000), acted=False)


def skip_texts(plan: ClientPlan) -> list[str]:
    """Each skip as 'SYMBOL side: reason' (client-wide skips have no symbol)."""
    return [f"{s.symbol} {s.hold_side}: {s.reason}" if s.symbol else s.reason for s in plan.skips]


def new_copy_symbols(plan: ClientPlan, state: ClientState) -> list[str]:
    """Symbols on which the plan opens a copy the client does not hold yet."""
    held = {p.key for p in state.positions if p.total > 0}
    return sorted({op.symbol for op in plan.operations if op.kind == OP_OPEN and op.key not in held})


def unlinked_master_symbols(master: MasterState, state: ClientState) -> list[str]:
    """Master symbols this client has no link for (a new copy may be due there)."""
    linked = {link.key for link in state.links}
    return sorted({p.symbol for p in master.positions if p.total > 0 and p.key not in linked})


def prefetch_symbols(master: MasterState, job: ClientJob) -> list[str]:
    """Master symbols on which this client may open a new copy now (no acknowledged or ended link there)."""
    settled = {link.key for link in job.links if link.opened or link.ended_ms is not None}
    return sorted({p.symbol for p in master.positions if p.total > 0 and p.key not in settled})


def describe(job: ClientJob, plan: ClientPlan, result: ApplyResult) -> AccountOutcome:
    """Turn what happened into one status and a readable message (every failure named, with what still went)."""
    skips = skip_texts(plan)
    done = [op.reason for op in result.done]
    acted = bool(result.done or result.failures)
    parts = []
    if result.failures:
        parts.append("; ".join(f"{op.reason}: {error}" for op, error in result.failures))
        if result.blocked:
            parts.append("not tried after that failure: " + "; ".join(op.reason for op in result.blocked))
        if done:
            parts.append("done: " + "; ".join(done))
        if skips:
            parts.append("skipped: " + "; ".join(skips))
        return AccountOutcome(job.account_id, job.name, "failed", " | ".join(parts), result.orders, acted=acted)
    if done:
        message = "; ".join(done)
        if skips:
            message += " | skipped: " + "; ".join(skips)
        return AccountOutcome(job.account_id, job.name, "ok", message, result.orders, acted=acted)
    if skips:
        return AccountOutcome(job.account_id, job.name, "skipped", "; ".join(skips), acted=acted)
    return AccountOutcome(job.account_id, job.name, "ok", "in sync: nothing to do", acted=acted)
