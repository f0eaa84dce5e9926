"""The small spot, margin and wallet endpoints clients read around futures (ccxt's load_markets and balance).

The simulator has no spot trading: the pairs are listed so market loading works, the spot wallet is empty.
"""
from __future__ import annotations

from typing import Any

from .contracts import CONTRACTS, MARGIN_COIN
from .numbers import fmt
from .registry import Call, endpoint

COINS = (MARGIN_COIN, *sorted({spec.base_coin for spec in CONTRACTS.values()}))


@endpoint("GET", "/api/v2/spot/public/coins", private=False, product=False)
def coins(call: Call) -> list[dict[str, Any]]:
    """Coin list (deposit/withdraw networks are not simulated: no chains)."""
    wanted = call.text("coin").upper()
    return [{"coinId": str(i + 1), "coin": coin, "transfer": "true", "chains": [], "areaCoin": "no"}
            for i, coin in enumerate(COINS) if not wanted or coin == wanted]


@endpoint("GET", "/api/v2/spot/public/symbols", private=False, product=False)
def spot_symbols(call: Call) -> list[dict[str, Any]]:
    """Spot pairs of the simulated coins (listed, not tradable here)."""
    wanted = call.text("symbol").upper()
    return [{
        "symbol": spec.symbol, "baseCoin": spec.base_coin, "quoteCoin": MARGIN_COIN, "minTradeAmount": "0",
        "maxTradeAmount": "10000000000", "takerFeeRate": "0.001", "makerFeeRate": "0.001",
        "pricePrecision": str(spec.price_place), "quantityPrecision": str(spec.volume_place),
        "quotePrecision": str(spec.price_place), "status": "online", "minTradeUSDT": "1",
        "buyLimitPriceRatio": "0.05", "sellLimitPriceRatio": "0.05", "areaSymbol": "no", "orderQuantity": "200",
        "openTime": "1532454360000", "offTime": "",
    } for spec in CONTRACTS.values() if not wanted or spec.symbol == wanted]


@endpoint("GET", "/api/v2/margin/currencies", private=False, product=False)
def margin_currencies(call: Call) -> list[dict[str, Any]]:
    """Margin (borrowing) pairs: none in the simulator."""
    return []


@endpoint("GET", "/api/v2/spot/account/assets", product=False)
def spot_assets(call: Call) -> list[dict[str, Any]]:
    """The spot wallet: empty (assetType=hold_only, the default, lists only coins held; all lists zeros)."""
    if call.text("assetType").lower() != "all":
        return []
    ts = str(call.acc.c_time)
    return [{"coin": coin, "available": "0", "frozen": "0", "locked": "0", "limitAvailable": "0", "uTime": ts}
            for coin in COINS]


@endpoint("GET", "/api/v2/account/all-account-balance", product=False)
def all_account_balance(call: Call) -> list[dict[str, str]]:
    """USDT value per account type: the futures equity, every other wallet 0."""
    equity = call.exchange.metrics_equity(call.acc)
    return [{"accountType": kind, "usdtBalance": fmt(equity) if kind == "futures" else "0"}
            for kind in ("spot", "futures", "funding", "earn", "bots", "margin")]
