"""Turn planned operations into Bitget order parameters for the client's position mode (REFERENCE 9.1, 10)."""
from __future__ import annotations

from typing import Any

from app.engine.replication.plan import Operation
from app.engine.replication.state import HEDGE_MODE, LONG, ONE_WAY_MODE, OP_CLOSE, OP_OPEN


def order_kwargs(op: Operation, pos_mode: str, margin_mode: str) -> dict[str, Any]:
    """Keyword arguments for BitgetClient.place_order for an open or close operation."""
    if op.kind not in (OP_OPEN, OP_CLOSE):
        raise ValueError(f"{op.kind} is not an order operation")
    if op.size is None or op.size <= 0:
        raise ValueError(f"{op.kind} {op.symbol} {op.hold_side} has no size")
    opening = op.kind == OP_OPEN
    is_long = op.hold_side == LONG
    kwargs: dict[str, Any] = {
        "symbol": op.symbol,
        "size": op.size,
        "margin_mode": margin_mode,
        "order_type": "market",
    }
    if pos_mode == HEDGE_MODE:
        # hedge: side names the position's direction, tradeSide says open or close
        kwargs["side"] = "buy" if is_long else "sell"
        kwargs["trade_side"] = "open" if opening else "close"
    elif pos_mode == ONE_WAY_MODE:
        # one-way: side is the trade's direction; a close must be reduce-only or it could flip the position
        kwargs["side"] = "buy" if is_long == opening else "sell"
        if not opening:
            kwargs["reduce_only"] = True
    else:
        raise ValueError(f"unknown position mode {pos_mode!r}")
    return kwargs


def tpsl_hold_side(hold_side: str, pos_mode: str) -> str:
    """The holdSide value for TP/SL endpoints: long/short in hedge mode, buy/sell in one-way mode."""
    if pos_mode == HEDGE_MODE:
        return hold_side
    if pos_mode == ONE_WAY_MODE:
        return "buy" if hold_side == LONG else "sell"
    raise ValueError(f"unknown position mode {pos_mode!r}")
