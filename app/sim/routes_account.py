"""Private account and position endpoints."""
from __future__ import annotations

from typing import Any

from .registry import Call, endpoint


@endpoint("GET", "/api/v2/mix/account/account")
def account(call: Call) -> dict[str, Any]:
    """Balances plus one symbol's margin mode and leverages, and the position mode."""
    call.margin_coin()
    return call.exchange.account_view(call.acc, call.symbol())


@endpoint("GET", "/api/v2/mix/account/accounts")
def accounts(call: Call) -> list[dict[str, Any]]:
    """Balances per margin coin (USDT only)."""
    return call.exchange.accounts_view(call.acc)


@endpoint("POST", "/api/v2/mix/account/set-leverage", trading=True)
def set_leverage(call: Call) -> dict[str, Any]:
    """Set cross leverage, or isolated leverage for one or both sides."""
    call.margin_coin()
    return call.exchange.set_leverage(
        call.acc, call.symbol(), call.integer("leverage"), long_leverage=call.integer("longLeverage"),
        short_leverage=call.integer("shortLeverage"), hold_side=call.choice("holdSide", ("long", "short")))


@endpoint("POST", "/api/v2/mix/account/set-margin-mode", trading=True)
def set_margin_mode(call: Call) -> dict[str, Any]:
    """Switch a symbol between isolated and crossed."""
    call.margin_coin()
    mode = call.choice("marginMode", ("isolated", "crossed"), required=True)
    return call.exchange.set_margin_mode(call.acc, call.symbol(), mode)


@endpoint("POST", "/api/v2/mix/account/set-position-mode", trading=True)
def set_position_mode(call: Call) -> dict[str, Any]:
    """Switch between one_way_mode and hedge_mode."""
    mode = call.choice("posMode", ("one_way_mode", "hedge_mode"), required=True)
    return call.exchange.set_position_mode(call.acc, mode)


@endpoint("GET", "/api/v2/mix/position/all-position")
def all_position(call: Call) -> list[dict[str, Any]]:
    """Every open position, newest first, with TP/SL fields."""
    call.margin_coin(required=False)
    return call.exchange.positions_view(call.acc)


@endpoint("GET", "/api/v2/mix/position/single-position")
def single_position(call: Call) -> list[dict[str, Any]]:
    """Open positions of one symbol (up to two in hedge mode)."""
    call.margin_coin()
    return call.exchange.positions_view(call.acc, call.symbol())


@endpoint("GET", "/api/v2/spot/account/info", product=False)
def account_info(call: Call) -> dict[str, Any]:
    """The key's user id and authorities (read-only keys lack the write codes)."""
    return call.exchange.account_info(call.acc)
