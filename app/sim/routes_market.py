"""Public endpoints: server time, contracts, tickers, symbol price."""
from __future__ import annotations

from typing import Any

from .contracts import CONTRACTS, OTHER_PRODUCT_TYPES, PRODUCT_TYPE, contract_for
from .errors import param_error
from .numbers import now_ms
from .registry import Call, endpoint


def _served(call: Call) -> bool:
    """True for USDT-FUTURES, False for another productType Bitget knows (it lists nothing here); else 400172."""
    product = call.text("productType", required=True).upper()
    if product == PRODUCT_TYPE:
        return True
    if product in OTHER_PRODUCT_TYPES:
        return False
    raise param_error(f"productType {product} does not exist")


@endpoint("GET", "/api/v2/public/time", private=False, product=False)
def server_time(call: Call) -> dict[str, str]:
    """Server time in ms (a string)."""
    return {"serverTime": str(now_ms())}


@endpoint("GET", "/api/v2/mix/market/contracts", private=False, product=False)
def contracts(call: Call) -> list[dict[str, Any]]:
    """Every contract, or the one named by symbol (with its symbolStatus); other product types: none."""
    if not _served(call):
        return []
    return call.exchange.contract_rows(call.symbol(required=False))


@endpoint("GET", "/api/v2/mix/market/ticker", private=False)
def ticker(call: Call) -> list[dict[str, Any]]:
    """One symbol's ticker, as a one-element list."""
    spec = contract_for(call.symbol())
    with call.exchange.lock:
        return [call.exchange.prices.ticker(spec.symbol, now_ms())]


@endpoint("GET", "/api/v2/mix/market/tickers", private=False, product=False)
def tickers(call: Call) -> list[dict[str, Any]]:
    """Every symbol's ticker (other product types: none)."""
    if not _served(call):
        return []
    ts = now_ms()
    with call.exchange.lock:
        return [call.exchange.prices.ticker(symbol, ts) for symbol in CONTRACTS]


@endpoint("GET", "/api/v2/mix/market/symbol-price", private=False)
def symbol_price(call: Call) -> list[dict[str, Any]]:
    """Last, index and mark price of one symbol."""
    spec = contract_for(call.symbol())
    with call.exchange.lock:
        return [call.exchange.prices.symbol_price(spec.symbol, now_ms())]
