"""Turn planned operations into Bitget order parameters for the client's position mode (REFERENCE 9.1, 10)."""
from __future__ import annotations

import hashlib
import re
from typing import Any

from app.replication.plan import Operation
from app.replication.state import HEDGE_MODE, LONG, ONE_WAY_MODE, OP_CLOSE, OP_OPEN

CLIENT_OID_MAX = 40
_OID_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")
_OID_PREFIX = 29  # prefix + "-" + 10 hex digits = 40


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


def make_client_oid(run_uid: str, account_id: int, symbol: str, hold_side: str, step: str) -> str:
    """A deterministic clientOid for one operation of one run: [A-Za-z0-9_-], at most 40 characters."""
    raw = f"{run_uid}-{account_id}-{symbol}-{hold_side[:1]}-{step}"
    safe = _OID_UNSAFE.sub("", raw)
    if safe == raw and len(safe) <= CLIENT_OID_MAX:
        return safe
    # hash the whole raw id so ids that differ only in dropped characters or in the tail stay distinct
    digest = hashlib.sha1(raw.encode("utf-8")).hexdigest()[:10]
    return f"{safe[:_OID_PREFIX]}-{digest}"
