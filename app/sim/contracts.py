"""The simulated USDT-M perpetual contracts: trading rules, wire rows and size/price validation."""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from .errors import MAX_QTY, MIN_QTY, NOT_MULTIPLE, PRICE_TICK, SimError, fail, param_error
from .numbers import decimals_of, fmt

PRODUCT_TYPE = "USDT-FUTURES"
MARGIN_COIN = "USDT"
# productTypes ccxt and others list contracts for; the simulator has none of them (empty lists)
OTHER_PRODUCT_TYPES = ("COIN-FUTURES", "USDC-FUTURES", "SUSDT-FUTURES", "SCOIN-FUTURES", "SUSDC-FUTURES")
# symbolStatus (REFERENCE 6.2) -> the error an API order meets: (code, msg) per kind of order, None = allowed
NORMAL = "normal"
_SUSPENDED = ("40308", "The contract is being maintained, trading is suspended")
_OFFLINE = ("40309", "The contract has been removed")
_API_RESTRICTED = ("22004", "This symbol does not support API trading")
_CLOSE_ONLY = ("45119", "This symbol does not support opening positions")
STATUS_RULES: dict[str, dict[str, tuple[str, str] | None]] = {
    NORMAL: {"open": None, "close": None, "tpsl": None},
    "listed": {"open": _SUSPENDED, "close": _SUSPENDED, "tpsl": _SUSPENDED},
    "maintain": {"open": _SUSPENDED, "close": _SUSPENDED, "tpsl": _SUSPENDED},
    "limit_open": {"open": _CLOSE_ONLY, "close": None, "tpsl": None},
    "restrictedAPI": {"open": _API_RESTRICTED, "close": _API_RESTRICTED, "tpsl": _API_RESTRICTED},
    "off": {"open": _OFFLINE, "close": _OFFLINE, "tpsl": _OFFLINE},
}


def status_error(status: str, action: str, entry_point: str = "API") -> SimError | None:
    """The error an order of kind `action` (open, close, tpsl) meets under a symbolStatus (None: allowed).

    restrictedAPI refuses API orders only; the operator page (entry point WEB) still trades.
    """
    rule = STATUS_RULES.get(status, STATUS_RULES[NORMAL]).get(action)
    if rule is None or (status == "restrictedAPI" and entry_point != "API"):
        return None
    return SimError(*rule)


@dataclass(frozen=True)
class ContractSpec:
    """Trading rules of one contract, as Bitget publishes them."""

    symbol: str
    base_coin: str
    min_trade_num: Decimal
    size_multiplier: Decimal
    volume_place: int
    price_place: int
    price_end_step: int
    max_lever: int
    max_market_order_qty: Decimal
    max_order_qty: Decimal
    start_price: Decimal
    keep_margin_rate: Decimal
    min_trade_usdt: Decimal = Decimal("5")
    maker_fee_rate: Decimal = Decimal("0.0002")
    taker_fee_rate: Decimal = Decimal("0.0006")

    @property
    def tick(self) -> Decimal:
        """Price tick: priceEndStep x 10^-pricePlace."""
        return Decimal(self.price_end_step).scaleb(-self.price_place)

    def wire(self, status: str = NORMAL) -> dict[str, object]:
        """One row of GET /api/v2/mix/market/contracts (with the symbol's current symbolStatus)."""
        return {
            "symbol": self.symbol, "baseCoin": self.base_coin, "quoteCoin": MARGIN_COIN,
            "buyLimitPriceRatio": "0.05", "sellLimitPriceRatio": "0.05", "feeRateUpRatio": "0.005",
            "makerFeeRate": fmt(self.maker_fee_rate), "takerFeeRate": fmt(self.taker_fee_rate),
            "openCostUpRatio": "0.01", "supportMarginCoins": [MARGIN_COIN],
            "minTradeNum": fmt(self.min_trade_num), "priceEndStep": str(self.price_end_step),
            "volumePlace": str(self.volume_place), "pricePlace": str(self.price_place),
            "sizeMultiplier": fmt(self.size_multiplier), "symbolType": "perpetual",
            "minTradeUSDT": fmt(self.min_trade_usdt), "maxSymbolOrderNum": "200",
            "maxProductOrderNum": "400", "maxPositionNum": "150", "symbolStatus": status,
            "offTime": "-1", "limitOpenTime": "-1", "deliveryTime": "", "deliveryStartTime": "",
            "deliveryPeriod": "", "launchTime": "", "fundInterval": "8", "minLever": "1",
            "maxLever": str(self.max_lever), "posLimit": "0.05", "maintainTime": "",
            "maxMarketOrderQty": fmt(self.max_market_order_qty), "maxOrderQty": fmt(self.max_order_qty),
            "isRwa": "NO",
        }

    def check_size(self, size: Decimal, *, market: bool) -> None:
        """Reject a size below the minimum, with too many decimals, off the step or above the maximum."""
        if size <= 0:
            raise param_error("size must be positive")
        if size < self.min_trade_num:
            raise fail(MIN_QTY)
        if decimals_of(size) > self.volume_place:
            raise SimError("40808", "Parameter verification exception size checkBDScale error "
                                    f"value={fmt(size)} checkScale={self.volume_place}")
        if size % self.size_multiplier != 0:
            raise fail(NOT_MULTIPLE)
        if size > (self.max_market_order_qty if market else self.max_order_qty):
            raise fail(MAX_QTY)

    def check_price(self, price: Decimal, field: str = "price") -> None:
        """Reject a price that is not positive, has too many decimals or is off the tick."""
        if price <= 0:
            raise param_error(f"{field} must be positive")
        if decimals_of(price) > self.price_place:
            raise SimError("40808", f"Parameter verification exception {field} checkBDScale error "
                                    f"value={fmt(price)} checkScale={self.price_place}")
        if price % self.tick != 0:
            raise fail(PRICE_TICK, tick=fmt(self.tick))


def _spec(symbol: str, step: str, places: int, price_place: int, max_lever: int, max_market: str,
          max_order: str, start: str, keep: str, end_step: int = 1) -> ContractSpec:
    return ContractSpec(
        symbol=symbol, base_coin=symbol[:-4], min_trade_num=Decimal(step), size_multiplier=Decimal(step),
        volume_place=places, price_place=price_place, price_end_step=end_step, max_lever=max_lever,
        max_market_order_qty=Decimal(max_market), max_order_qty=Decimal(max_order),
        start_price=Decimal(start), keep_margin_rate=Decimal(keep),
    )


CONTRACTS: dict[str, ContractSpec] = {
    spec.symbol: spec
    for spec in (
        _spec("BTCUSDT", "0.0001", 4, 1, 125, "220", "1200", "84000.0", "0.004"),
        _spec("ETHUSDT", "0.01", 2, 2, 100, "3000", "15000", "2200.00", "0.005"),
        # priceEndStep 5: tick 0.005, so a price on the last decimal can still be off the tick (45115)
        _spec("SOLUSDT", "0.1", 1, 3, 75, "40000", "200000", "140.000", "0.005", end_step=5),
        _spec("XRPUSDT", "1", 0, 4, 75, "2000000", "10000000", "2.2000", "0.005"),
    )
}


def contract_for(symbol: str) -> ContractSpec:
    """Look a contract up by symbol (any case), or raise 40034."""
    spec = CONTRACTS.get(str(symbol).upper())
    if spec is None:
        raise SimError("40034", f"Parameter {symbol} does not exist")
    return spec
