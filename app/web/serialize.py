"""Exchange dataclasses -> JSON-safe dicts (Decimals as strings, never floats)."""
from __future__ import annotations

from decimal import Decimal
from typing import Any

from ..bitget.models import AccountBalance, Position


def text(value: Decimal | None) -> str | None:
    """A Decimal as a plain string (None stays None)."""
    return None if value is None else format(value, "f")


def plain(value: Decimal | None) -> str | None:
    """A Decimal without trailing zeros and never in exponent form ('0.0500' -> '0.05')."""
    if value is None:
        return None
    normal = value.normalize()
    return format(normal, "f") if normal == normal.to_integral_value() or normal.as_tuple().exponent < 0 else format(value, "f")


def balance_to_dict(balance: AccountBalance) -> dict[str, Any]:
    """Futures balance card values."""
    return {
        "margin_coin": balance.margin_coin,
        "equity": text(balance.equity),
        "available": text(balance.available),
        "unrealized_pl": text(balance.unrealized_pl),
        "margin_used": text(balance.margin_used),
    }


def position_to_dict(position: Position) -> dict[str, Any]:
    """One position row for tables and the API."""
    return {
        "symbol": position.symbol,
        "hold_side": position.hold_side,
        "size": text(position.total),
        "available": text(position.available),
        "leverage": position.leverage,
        "margin_mode": position.margin_mode,
        "entry_price": text(position.open_price_avg),
        "mark_price": text(position.mark_price),
        "liquidation_price": text(position.liquidation_price),
        "unrealized_pl": text(position.unrealized_pl),
        "unrealized_pl_pct": text((position.unrealized_pl_ratio * 100).quantize(Decimal("0.01"))),
        "margin": text(position.margin_size),
        "take_profit": text(position.take_profit),
        "stop_loss": text(position.stop_loss),
        "opened_at": position.c_time,
    }
