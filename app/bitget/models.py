"""Frozen dataclasses for Bitget v2 mix responses; every amount is a Decimal parsed from Bitget's strings."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

ZERO = Decimal("0")


def dec(value: Any, default: Decimal | None = ZERO) -> Decimal | None:
    """Parse a Bitget number string ('' and None become `default`)."""
    if value is None or value == "":
        return default
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return default


def opt_dec(value: Any) -> Decimal | None:
    """Parse an optional price: '' / None / '0' mean 'not set'."""
    parsed = dec(value, None)
    return parsed if parsed else None


def opt_str(value: Any) -> str | None:
    """Return a non-empty string or None."""
    return str(value) if value not in (None, "") else None


def ms(value: Any) -> int | None:
    """Parse a millisecond timestamp string."""
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


@dataclass(frozen=True)
class Contract:
    """One futures contract's trading rules (GET /api/v2/mix/market/contracts)."""

    symbol: str
    base_coin: str
    quote_coin: str
    min_trade_num: Decimal
    size_multiplier: Decimal
    volume_place: int
    price_place: int
    price_end_step: Decimal
    min_trade_usdt: Decimal
    min_lever: int
    max_lever: int
    max_market_order_qty: Decimal
    max_order_qty: Decimal
    symbol_status: str = "normal"

    @classmethod
    def from_wire(cls, row: Mapping[str, Any]) -> Contract:
        """Build from one row of the contracts endpoint."""
        return cls(
            symbol=str(row["symbol"]).upper(),
            base_coin=str(row.get("baseCoin", "")).upper(),
            quote_coin=str(row.get("quoteCoin", "")).upper(),
            min_trade_num=dec(row.get("minTradeNum")),
            size_multiplier=dec(row.get("sizeMultiplier"), Decimal("1")),
            volume_place=int(row.get("volumePlace") or 0),
            price_place=int(row.get("pricePlace") or 0),
            price_end_step=dec(row.get("priceEndStep"), Decimal("1")),
            min_trade_usdt=dec(row.get("minTradeUSDT"), Decimal("5")),
            min_lever=int(row.get("minLever") or 1),
            max_lever=int(row.get("maxLever") or 1),
            max_market_order_qty=dec(row.get("maxMarketOrderQty"), Decimal("1e12")),
            max_order_qty=dec(row.get("maxOrderQty"), Decimal("1e12")),
            symbol_status=str(row.get("symbolStatus") or "normal"),
        )

    @property
    def size_step(self) -> Decimal:
        """Smallest size increment: the larger of sizeMultiplier and 10^-volumePlace."""
        return max(self.size_multiplier, Decimal(1).scaleb(-self.volume_place))

    @property
    def tick(self) -> Decimal:
        """Price tick: priceEndStep x 10^-pricePlace."""
        return self.price_end_step * Decimal(1).scaleb(-self.price_place)

    def round_size_down(self, size: Decimal) -> Decimal:
        """Floor a size to the size step (the safe direction)."""
        step = self.size_step
        return ((size / step).to_integral_value(rounding=ROUND_DOWN) * step).quantize(step)

    def round_price(self, price: Decimal) -> Decimal:
        """Round a price to the nearest tick."""
        tick = self.tick
        return ((price / tick).to_integral_value(rounding=ROUND_HALF_UP) * tick).quantize(tick)


@dataclass(frozen=True)
class Ticker:
    """Prices of one symbol (GET /api/v2/mix/market/ticker(s))."""

    symbol: str
    last_price: Decimal
    mark_price: Decimal
    index_price: Decimal
    bid_price: Decimal
    ask_price: Decimal
    ts: int | None

    @classmethod
    def from_wire(cls, row: Mapping[str, Any]) -> Ticker:
        """Build from one ticker row."""
        return cls(
            symbol=str(row["symbol"]).upper(),
            last_price=dec(row.get("lastPr")),
            mark_price=dec(row.get("markPrice")),
            index_price=dec(row.get("indexPrice")),
            bid_price=dec(row.get("bidPr")),
            ask_price=dec(row.get("askPr")),
            ts=ms(row.get("ts")),
        )


@dataclass(frozen=True)
class AccountBalance:
    """Futures account in one margin coin (GET /api/v2/mix/account/accounts)."""

    margin_coin: str
    equity: Decimal  # accountEquity: balance + unrealized PnL
    usdt_equity: Decimal
    available: Decimal
    locked: Decimal
    unrealized_pl: Decimal
    crossed_margin: Decimal
    isolated_margin: Decimal
    asset_mode: str

    @property
    def margin_used(self) -> Decimal:
        """Margin held by open positions (crossed + isolated)."""
        return self.crossed_margin + self.isolated_margin

    @classmethod
    def from_wire(cls, row: Mapping[str, Any]) -> AccountBalance:
        """Build from one row of the accounts endpoint."""
        return cls(
            margin_coin=str(row.get("marginCoin", "")).upper(),
            equity=dec(row.get("accountEquity")),
            usdt_equity=dec(row.get("usdtEquity")),
            available=dec(row.get("available")),
            locked=dec(row.get("locked")),
            unrealized_pl=dec(row.get("unrealizedPL")),
            crossed_margin=dec(row.get("crossedMargin")),
            isolated_margin=dec(row.get("isolatedMargin")),
            asset_mode=str(row.get("assetMode") or "single"),
        )


@dataclass(frozen=True)
class SymbolAccount:
    """Futures account seen through one symbol (GET /api/v2/mix/account/account): equity plus modes."""

    margin_coin: str
    equity: Decimal
    available: Decimal
    unrealized_pl: Decimal
    margin_mode: str  # isolated | crossed
    pos_mode: str  # one_way_mode | hedge_mode
    crossed_leverage: int
    isolated_long_leverage: int
    isolated_short_leverage: int
    asset_mode: str

    def leverage_for(self, margin_mode: str, hold_side: str) -> int:
        """The leverage that applies to a new position of this margin mode and side."""
        if margin_mode == "crossed":
            return self.crossed_leverage
        return self.isolated_long_leverage if hold_side == "long" else self.isolated_short_leverage

    @classmethod
    def from_wire(cls, data: Mapping[str, Any]) -> SymbolAccount:
        """Build from the account endpoint's data object."""
        return cls(
            margin_coin=str(data.get("marginCoin", "")).upper(),
            equity=dec(data.get("accountEquity")),
            available=dec(data.get("available")),
            unrealized_pl=dec(data.get("unrealizedPL")),
            margin_mode=str(data.get("marginMode") or "crossed"),
            pos_mode=str(data.get("posMode") or "hedge_mode"),
            crossed_leverage=int(dec(data.get("crossedMarginLeverage"), Decimal(1))),
            isolated_long_leverage=int(dec(data.get("isolatedLongLever"), Decimal(1))),
            isolated_short_leverage=int(dec(data.get("isolatedShortLever"), Decimal(1))),
            asset_mode=str(data.get("assetMode") or "single"),
        )


@dataclass(frozen=True)
class Position:
    """One open position (GET /api/v2/mix/position/all-position or single-position)."""

    symbol: str
    margin_coin: str
    hold_side: str  # long | short
    total: Decimal
    available: Decimal
    locked: Decimal
    open_price_avg: Decimal
    leverage: int
    margin_mode: str
    pos_mode: str
    margin_size: Decimal
    unrealized_pl: Decimal
    achieved_profits: Decimal
    liquidation_price: Decimal | None
    mark_price: Decimal
    take_profit: Decimal | None
    stop_loss: Decimal | None
    take_profit_id: str | None
    stop_loss_id: str | None
    c_time: int | None
    u_time: int | None

    @property
    def key(self) -> tuple[str, str]:
        """(symbol, hold_side): how a position is identified across accounts."""
        return (self.symbol, self.hold_side)

    @property
    def unrealized_pl_ratio(self) -> Decimal:
        """Unrealized PnL over margin (0 when no margin)."""
        return self.unrealized_pl / self.margin_size if self.margin_size else ZERO

    @classmethod
    def from_wire(cls, row: Mapping[str, Any]) -> Position:
        """Build from one position row."""
        liq = dec(row.get("liquidationPrice"), None)
        return cls(
            symbol=str(row["symbol"]).upper(),
            margin_coin=str(row.get("marginCoin", "")).upper(),
            hold_side=str(row.get("holdSide", "")).lower(),
            total=dec(row.get("total")),
            available=dec(row.get("available")),
            locked=dec(row.get("locked")),
            open_price_avg=dec(row.get("openPriceAvg")),
            leverage=int(dec(row.get("leverage"), Decimal(1))),
            margin_mode=str(row.get("marginMode") or "crossed"),
            pos_mode=str(row.get("posMode") or "hedge_mode"),
            margin_size=dec(row.get("marginSize")),
            unrealized_pl=dec(row.get("unrealizedPL")),
            achieved_profits=dec(row.get("achievedProfits")),
            liquidation_price=liq if liq is not None and liq > 0 else None,
            mark_price=dec(row.get("markPrice")),
            take_profit=opt_dec(row.get("takeProfit")),
            stop_loss=opt_dec(row.get("stopLoss")),
            take_profit_id=opt_str(row.get("takeProfitId")),
            stop_loss_id=opt_str(row.get("stopLossId")),
            c_time=ms(row.get("cTime")),
            u_time=ms(row.get("uTime")),
        )


@dataclass(frozen=True)
class OrderAck:
    """What place/cancel/modify answer: the order id and our clientOid."""

    order_id: str | None
    client_oid: str | None
    replayed: bool = False  # True when a retry hit "duplicate clientOid" and the ack came from order detail

    @classmethod
    def from_wire(cls, data: Mapping[str, Any] | None) -> OrderAck:
        """Build from a data object with orderId/clientOid."""
        data = data or {}
        return cls(order_id=opt_str(data.get("orderId")), client_oid=opt_str(data.get("clientOid")))


@dataclass(frozen=True)
class BatchFailure:
    """One failed item of a batch answer."""

    order_id: str | None
    client_oid: str | None
    symbol: str | None
    code: str | None
    message: str


@dataclass(frozen=True)
class BatchResult:
    """successList / failureList answers (batch place, close-positions, cancel-plan-order)."""

    successes: tuple[OrderAck, ...]
    failures: tuple[BatchFailure, ...]
    symbols: tuple[str, ...] = field(default=())

    @classmethod
    def from_wire(cls, data: Mapping[str, Any] | None) -> BatchResult:
        """Build from a data object carrying successList / failureList (either may be null)."""
        data = data or {}
        ok = data.get("successList") or []
        bad = data.get("failureList") or []
        return cls(
            successes=tuple(OrderAck.from_wire(row) for row in ok),
            failures=tuple(
                BatchFailure(
                    order_id=opt_str(row.get("orderId")),
                    client_oid=opt_str(row.get("clientOid")),
                    symbol=opt_str(row.get("symbol")),
                    code=opt_str(row.get("errorCode")),
                    message=str(row.get("errorMsg") or ""),
                )
                for row in bad
            ),
            symbols=tuple(str(row["symbol"]).upper() for row in ok if row.get("symbol")),
        )


@dataclass(frozen=True)
class Order:
    """An order as read back (order detail / orders-pending)."""

    order_id: str
    client_oid: str | None
    symbol: str
    size: Decimal
    price: Decimal | None
    price_avg: Decimal | None
    filled_size: Decimal
    status: str  # live | partially_filled | filled | canceled
    side: str
    pos_side: str
    trade_side: str | None
    order_type: str
    reduce_only: bool
    leverage: int | None
    margin_mode: str | None
    c_time: int | None
    u_time: int | None

    @classmethod
    def from_wire(cls, row: Mapping[str, Any]) -> Order:
        """Build from an order row; the status is 'state' in some answers and 'status' in others."""
        lev = dec(row.get("leverage"), None)
        return cls(
            order_id=str(row.get("orderId")),
            client_oid=opt_str(row.get("clientOid")),
            symbol=str(row.get("symbol", "")).upper(),
            size=dec(row.get("size")),
            price=opt_dec(row.get("price")),
            price_avg=opt_dec(row.get("priceAvg")),
            filled_size=dec(row.get("baseVolume")),
            status=str(row.get("status") or row.get("state") or ""),
            side=str(row.get("side", "")),
            pos_side=str(row.get("posSide", "")),
            trade_side=opt_str(row.get("tradeSide")),
            order_type=str(row.get("orderType", "")),
            reduce_only=str(row.get("reduceOnly", "NO")).upper() == "YES",
            leverage=int(lev) if lev is not None else None,
            margin_mode=opt_str(row.get("marginMode")),
            c_time=ms(row.get("cTime")),
            u_time=ms(row.get("uTime")),
        )


@dataclass(frozen=True)
class PlanOrder:
    """A pending TP/SL or trigger order (GET /api/v2/mix/order/orders-plan-pending)."""

    order_id: str
    client_oid: str | None
    plan_type: str  # pos_profit | pos_loss | profit_plan | loss_plan | moving_plan | ...
    symbol: str
    size: Decimal
    trigger_price: Decimal
    trigger_type: str
    execute_price: Decimal | None
    plan_status: str
    side: str
    pos_side: str
    trade_side: str | None

    @property
    def hold_side(self) -> str | None:
        """The position side this plan protects: posSide on hedge rows; None on one-way ('net') rows.

        What `side`/`tradeSide` say on one-way TP/SL rows is unconfirmed (REFERENCE 10.4: the position's direction
        or the closing trade's), so they are not read; a one-way symbol holds one position: match by symbol.
        """
        return self.pos_side if self.pos_side in ("long", "short") else None

    def protects(self, position_keys: set[tuple[str, str]]) -> bool:
        """Whether this plan belongs to one of the positions (symbol, hold side) given."""
        if self.hold_side is not None:
            return (self.symbol, self.hold_side) in position_keys
        return any(symbol == self.symbol for symbol, _ in position_keys)

    @classmethod
    def from_wire(cls, row: Mapping[str, Any]) -> PlanOrder:
        """Build from one plan row."""
        return cls(
            order_id=str(row.get("orderId")),
            client_oid=opt_str(row.get("clientOid")),
            plan_type=str(row.get("planType", "")),
            symbol=str(row.get("symbol", "")).upper(),
            size=dec(row.get("size")),
            trigger_price=dec(row.get("triggerPrice")),
            trigger_type=str(row.get("triggerType") or ""),
            execute_price=opt_dec(row.get("executePrice")),
            plan_status=str(row.get("planStatus") or ""),
            side=str(row.get("side", "")),
            pos_side=str(row.get("posSide", "")),
            trade_side=opt_str(row.get("tradeSide")),
        )


@dataclass(frozen=True)
class KeyInfo:
    """What a key may do (GET /api/v2/spot/account/info)."""

    user_id: str
    authorities: tuple[str, ...]
    ips: str
    trader_type: str

    @property
    def can_trade_futures(self) -> bool:
        """True when the key has futures order and holdings write permissions."""
        return "coow" in self.authorities and "cpow" in self.authorities

    @classmethod
    def from_wire(cls, data: Mapping[str, Any]) -> KeyInfo:
        """Build from the account-info data object."""
        return cls(
            user_id=str(data.get("userId", "")),
            authorities=tuple(str(a) for a in (data.get("authorities") or [])),
            ips=str(data.get("ips") or ""),
            trader_type=str(data.get("traderType") or ""),
        )


@dataclass(frozen=True)
class Fill:
    """One execution (GET /api/v2/mix/order/fills): realized profit and fee (negative = paid) per fill."""

    trade_id: str
    order_id: str
    symbol: str
    price: Decimal
    base_volume: Decimal
    profit: Decimal
    fee: Decimal  # sum of feeDetail[].totalFee, negative when paid
    side: str
    trade_side: str
    c_time: int | None

    @property
    def realized(self) -> Decimal:
        """What this fill did to the balance: profit plus (signed) fee."""
        return self.profit + self.fee

    @classmethod
    def from_wire(cls, row: Mapping[str, Any]) -> Fill:
        """Build from one fillList row."""
        fees = row.get("feeDetail") or []
        return cls(
            trade_id=str(row.get("tradeId", "")),
            order_id=str(row.get("orderId", "")),
            symbol=str(row.get("symbol", "")).upper(),
            price=dec(row.get("price")),
            base_volume=dec(row.get("baseVolume")),
            profit=dec(row.get("profit")),
            fee=sum((dec(item.get("totalFee")) for item in fees if isinstance(item, Mapping)), start=ZERO),
            side=str(row.get("side", "")),
            trade_side=str(row.get("tradeSide", "")),
            c_time=ms(row.get("cTime")),
        )


@dataclass(frozen=True)
class FillPage:
    """One page of fills, newest first; end_id is the cursor for the next (older) page."""

    fills: tuple[Fill, ...]
    end_id: str | None

    @classmethod
    def from_wire(cls, data: Mapping[str, Any] | None) -> FillPage:
        """Build from the fills data object (fillList may be null)."""
        data = data or {}
        return cls(fills=tuple(Fill.from_wire(row) for row in data.get("fillList") or []),
                   end_id=opt_str(data.get("endId")))
