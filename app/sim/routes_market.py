"""Public endpoints: server time, contracts, tickers, symbol price."""
from __future__ import annotations

from typing import Any

from .contracts import CONTRACTS, contract_for
from .numbers import now_ms
from .registry import Call, endpoint


@endpoint("GET", "/api/v2/public/time", private=False, product=False)
def server_time(call: Call) -> dict[str, str]:
    """Server time in ms (a string)."""
    return {"serverTime": str(now_ms())}


@endpoint("GET", "/api/v2/mix/market/contracts", private=False)
def contracts(call: Call) -> list[dict[str, Any]]:
    """Every contract, or the one named by symbol."""
    symbol = call.symbol(required=False)
    if symbol:
        return [contract_for(symbol).wire()]
    return [spec.wire() for spec in CONTRACTS.values()]


@endpoint("GET", "/api/v2/mix/market/ticker", private=False)
def ticker(call: Call) -> list[dict[str, Any]]:
    """One symbol's ticker, as a one-element list."""
    spec = contract_for(call.symbol())
    with call.exchange.lock:
        return [call.exchange.prices.ticker(spec.symbol, now_ms())]


@endpoint("GET", "/api/v2/mix/market/tickers", private=False)
def tickers(call: Call) -> list[dict[str, Any]]:
    """Every symbol's ticker."""
    ts = now_ms()
    with call.exchange.lock:
        return [call.exchange.prices.ticker(symbol, ts) for symbol in CONTRACTS]


@endpoint("GET", "/api/v2/mix/market/symbol-price", private=False)
def symbol_price(call: Call) -> list[dict[str, Any]]:
    """Last, index and mark price of one symbol."""
    spec = contract_for(call.symbol())
    with call.exchange.lock:
        return [call.exchange.prices.symbol_price(spec.symbol, now_ms())]
