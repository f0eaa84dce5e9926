"""How a new copy is opened: its margin mode and leverage, the calls that set them, and which setting chose them."""
from __future__ import annotations

from typing import TYPE_CHECKING

from app.engine.replication.draft import ClientView, PlanDraft
from app.engine.replication.plan import Operation
from app.engine.replication.state import FOLLOW, LEVERAGE_FIXED, OP_SET_LEVERAGE, OP_SET_MARGIN_MODE

if TYPE_CHECKING:
    from app.engine.replication.positions import CopyTarget


def setup_ops(view: ClientView, draft: PlanDraft, t: CopyTarget) -> tuple[str, list[Operation], str | None]:
    """The margin mode the copy opens in, the set_margin_mode/set_leverage operations, and a note."""
    symbol, side = t.key
    known = view.client.symbol_settings.get(symbol)
    others = draft.remaining_on_symbol(view, symbol, t.key)
    ops: list[Operation] = []
    note = None
    if others:
        # margin mode can only change while the symbol is flat
        margin_mode = others[0].margin_mode
        wanted = wanted_margin_mode(view, t)
        if margin_mode != wanted:
            asked = "the master uses" if view.client.settings.margin_mode == FOLLOW else "the client's setting is"
            note = f"margin mode {margin_mode} kept ({asked} {wanted}): the client holds another {symbol} position"
    elif symbol in draft.planned_margin:
        margin_mode = draft.planned_margin[symbol]
    else:
        margin_mode = draft.planned_margin[symbol] = wanted_margin_mode(view, t)
        if known is None or known.margin_mode != margin_mode:
            source = margin_source(view, t, margin_mode)
            reason = f"set {symbol} margin mode to {margin_mode} ({source})"
            ops.append(Operation(OP_SET_MARGIN_MODE, symbol, side, margin_mode=margin_mode, step="ml", reason=reason,
                                 setting=f"margin mode {margin_mode}: {source}"))
    if ops or known is None or known.margin_mode != margin_mode or known.leverage_for(side) != t.leverage:
        ops.append(
            Operation(
                OP_SET_LEVERAGE, symbol, side, margin_mode=margin_mode, leverage=t.leverage,
                step="lv", reason=leverage_reason(view, t),
                setting=f"leverage {t.leverage}x: {leverage_source(view, t)}",
            )
        )
    return margin_mode, ops, note


def wanted_margin_mode(view: ClientView, t: CopyTarget) -> str:
    """The margin mode a new copy should open in: the client's choice, else the master's."""
    chosen = view.client.settings.margin_mode
    return t.master.margin_mode if chosen == FOLLOW else chosen


def margin_source(view: ClientView, t: CopyTarget, margin_mode: str) -> str:
    """Which setting gave the copy its margin mode, in words."""
    if margin_mode != wanted_margin_mode(view, t):
        return "kept: the client holds another position on the symbol"
    if view.client.settings.margin_mode == FOLLOW:
        return "as the master"
    return "the client's margin mode setting"


def leverage_reason(view: ClientView, t: CopyTarget) -> str:
    """Explain the leverage chosen for a new copy."""
    symbol, side = t.key
    return f"set {symbol} {side} leverage to {t.leverage}x ({leverage_source(view, t)})"


def leverage_source(view: ClientView, t: CopyTarget) -> str:
    """Which setting gave a new copy its leverage: the master's or the client's fixed one, and any cap."""
    settings = view.client.settings
    fixed = settings.leverage_mode == LEVERAGE_FIXED and settings.fixed_leverage is not None
    wanted = settings.fixed_leverage if fixed and settings.fixed_leverage is not None else t.master.leverage
    caps = []
    max_leverage = settings.max_leverage
    if max_leverage is not None and max_leverage < wanted and t.leverage == max_leverage:
        caps.append(f"capped by the client's max {max_leverage}x")
    if t.contract.max_lever < wanted and t.leverage == t.contract.max_lever:
        caps.append(f"capped by {t.key[0]} max {t.contract.max_lever}x")
    origin = f"the client's fixed {wanted}x" if fixed else f"master {t.master.leverage}x"
    return ", ".join([origin, *caps])
