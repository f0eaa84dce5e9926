"""Decimal helpers: parse wire strings, format plain strings, quantize money, read the clock."""
from __future__ import annotations

import time
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

ZERO = Decimal("0")
ONE = Decimal("1")
MONEY = Decimal("0.00000001")


def now_ms() -> int:
    """Wall-clock milliseconds."""
    return int(time.time() * 1000)


def fmt(value: Decimal | None) -> str:
    """Plain decimal string without exponent or needless trailing zeros ('' for None)."""
    if value is None:
        return ""
    if value == 0:
        return "0"
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def to_decimal(value: Any) -> Decimal | None:
    """Parse a wire value into a finite Decimal, or None when it is not a number."""
    if value is None or isinstance(value, bool):
        return None
    try:
        result = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        return None
    return result if result.is_finite() else None


def money(value: Decimal) -> Decimal:
    """Round an amount of USDT to 8 decimals (half up)."""
    return value.quantize(MONEY, rounding=ROUND_HALF_UP)


def floor_to(value: Decimal, step: Decimal) -> Decimal:
    """Round down to a multiple of step."""
    return (value / step).to_integral_value(rounding=ROUND_DOWN) * step


def round_to(value: Decimal, step: Decimal) -> Decimal:
    """Round half up to a multiple of step."""
    return ((value / step).to_integral_value(rounding=ROUND_HALF_UP) * step).quantize(step)


def decimals_of(value: Decimal) -> int:
    """Number of significant decimal places of a Decimal (0 for integers)."""
    exponent = value.normalize().as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0
