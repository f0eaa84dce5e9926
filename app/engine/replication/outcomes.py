"""What one client's sync amounts to: one status and a message naming every operation, failure and skip."""
from __future__ import annotations

import time

from ...web.serialize import plain
from .apply import ApplyResult
from .jobs import ClientJob
from .plan import ClientPlan
from .recording import AccountOutcome
from .sizing import fmt_decimal
from .state import LEVERAGE_FIXED, OP_OPEN, TPSL_NONE, TPSL_OWN, ClientSettings, ClientState, MasterState


def settings_summary(settings: ClientSettings) -> dict[str, str]:
    """The client's settings for new copies in words: sizing, leverage, margin mode, TP/SL and caps."""
    mode = settings.sizing_mode
    value = fmt_decimal(settings.sizing_value)
    sizing = {
        "equity_ratio": f"equity ratio x {value}", "multiplier": f"multiplier {value}",
        "fixed_margin": f"fixed margin {value} USDT", "fixed_notional": f"fixed notional {value} USDT",
        "fixed_quantity": "fixed quantity " + (", ".join(
            f"{symbol} {fmt_decimal(size)}" for symbol, size in settings.fixed_quantities) or "(none set)"),
    }.get(mode, mode)
    if settings.leverage_mode == LEVERAGE_FIXED and settings.fixed_leverage is not None:
        leverage = f"fixed {settings.fixed_leverage}x"
    else:
        leverage = "the master's"
    if settings.max_leverage is not None:
        leverage += f", at most {settings.max_leverage}x"
    if settings.tpsl_mode == TPSL_OWN:
        parts = [f"TP {fmt_decimal(settings.tp_pct)}%" if settings.tp_pct else "",
                 f"SL {fmt_decimal(settings.sl_pct)}%" if settings.sl_pct else ""]
        tpsl = "own: " + " / ".join(p for p in parts if p) + " of the client's average entry"
    elif settings.tpsl_mode == TPSL_NONE:
        tpsl = "none: the copier places no TP/SL"
    else:
        tpsl = "the master's"
    margin = "the master's" if settings.margin_mode == "follow" else settings.margin_mode
    caps = [f"max notional {fmt_decimal(settings.max_notional)} USDT" if settings.max_notional is not None else "",
            f"max margin {fmt_decimal(settings.max_margin)} USDT" if settings.max_margin is not None else ""]
    return {"sizing": sizing, "leverage": leverage, "margin_mode": margin, "tpsl": tpsl,
            "caps": ", ".join(c for c in caps if c) or "none"}


def preview_outcome(job: ClientJob, plan: ClientPlan, started: float) -> AccountOutcome:
    """What a preview shows for one client: the operations it would send (each with the setting behind it)."""
    ops = [{"kind": op.kind, "symbol": op.symbol, "hold_side": op.hold_side,
            "size": plain(op.size), "leverage": op.leverage, "margin_mode": op.margin_mode,
            "trigger_price": plain(op.trigger_price), "reason": op.reason, "setting": op.setting}
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
                          latency_ms=round((time.monotonic() - started) * 1000), acted=False,
                          settings=settings_summary(job.settings))


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
