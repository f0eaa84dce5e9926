"""Mutable records of the simulated exchange (accounts, positions, orders, TP/SL plans) and their JSON form."""
from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field, fields
from decimal import Decimal
from typing import Any

from .numbers import ZERO, fmt

HEDGE = "hedge_mode"
ONE_WAY = "one_way_mode"
CROSSED = "crossed"
ISOLATED = "isolated"
DEFAULT_LEVERAGE = 20
TPSL_KINDS = ("pos_profit", "pos_loss", "profit_plan", "loss_plan")


@dataclass
class SymbolSettings:
    """Per-symbol margin mode and leverages of one account."""

    margin_mode: str = CROSSED
    cross_leverage: int = DEFAULT_LEVERAGE
    long_leverage: int = DEFAULT_LEVERAGE
    short_leverage: int = DEFAULT_LEVERAGE

    def leverage_for(self, hold_side: str, margin_mode: str | None = None) -> int:
        """Leverage a new position on that side would use."""
        if (margin_mode or self.margin_mode) == CROSSED:
            return self.cross_leverage
        return self.long_leverage if hold_side == "long" else self.short_leverage


@dataclass
class Position:
    """One open position (hedge: one per symbol and side; one-way: at most one per symbol)."""

    symbol: str
    hold_side: str
    size: Decimal
    entry: Decimal
    margin_mode: str
    leverage: int
    margin: Decimal
    c_time: int
    u_time: int
    achieved: Decimal = ZERO
    fees: Decimal = ZERO


@dataclass
class Order:
    """A placed order; status live, filled or canceled."""

    order_id: str
    client_oid: str
    symbol: str
    size: Decimal
    side: str
    trade_side: str
    hold_side: str
    reduce: bool
    order_type: str
    price: Decimal | None
    force: str
    margin_mode: str
    leverage: int
    pos_mode: str
    c_time: int
    u_time: int
    status: str = "live"
    reserved: Decimal = ZERO
    filled: Decimal = ZERO
    price_avg: Decimal | None = None
    fee: Decimal = ZERO
    profit: Decimal = ZERO
    reduce_only_flag: bool = False
    source: str = "normal"
    entry_point: str = "API"
    preset_tp: Decimal | None = None
    preset_sl: Decimal | None = None
    cancel_reason: str = ""
    ack_without_id: bool = False  # one-way: placing it cancelled older reduce-only orders (variant one_way_close_ack)


@dataclass
class Plan:
    """A TP/SL plan attached to a position side."""

    plan_id: str
    client_oid: str
    symbol: str
    plan_type: str
    hold_side: str
    trigger_price: Decimal
    trigger_type: str
    execute_price: Decimal
    size: Decimal
    c_time: int
    u_time: int
    entry_point: str = "API"


@dataclass
class Account:
    """One simulated Bitget account with its API key, balance, modes, positions, orders and plans."""

    name: str
    api_key: str
    api_secret: str
    passphrase: str
    balance: Decimal
    user_id: str
    demo: bool = False
    read_only: bool = False
    pos_mode: str = HEDGE
    c_time: int = 0
    settings: dict[str, SymbolSettings] = field(default_factory=dict)
    positions: dict[tuple[str, str], Position] = field(default_factory=dict)
    orders: OrderedDict[str, Order] = field(default_factory=OrderedDict)
    live_orders: dict[str, Order] = field(default_factory=dict)
    oid_index: dict[str, str] = field(default_factory=dict)
    plans: dict[str, Plan] = field(default_factory=dict)
    plan_oids: set[str] = field(default_factory=set)
    fills: list[dict[str, Any]] = field(default_factory=list)  # wire rows, oldest first

    def symbol_settings(self, symbol: str) -> SymbolSettings:
        """Settings of a symbol, created with the defaults on first use."""
        found = self.settings.get(symbol)
        if found is None:
            found = self.settings[symbol] = SymbolSettings()
        return found

    def public(self) -> dict[str, Any]:
        """Credentials and settings as the admin API shows them."""
        return {
            "name": self.name, "api_key": self.api_key, "api_secret": self.api_secret,
            "passphrase": self.passphrase, "demo": self.demo, "read_only": self.read_only,
            "pos_mode": self.pos_mode, "balance": fmt(self.balance), "user_id": self.user_id,
        }


def record_to_json(record: Any) -> dict[str, Any]:
    """Dump a dataclass record with Decimals as strings."""
    out: dict[str, Any] = {}
    for item in fields(record):
        value = getattr(record, item.name)
        out[item.name] = fmt(value) if isinstance(value, Decimal) else value
    return out


def record_from_json(cls: type, data: dict[str, Any]) -> Any:
    """Load a dataclass record, turning the Decimal-typed fields back into Decimals."""
    kwargs: dict[str, Any] = {}
    for item in fields(cls):
        if item.name not in data:
            continue
        value = data[item.name]
        if "Decimal" in str(item.type) and value not in (None, ""):
            value = Decimal(value)
        elif "Decimal" in str(item.type):
            value = None
        kwargs[item.name] = value
    return cls(**kwargs)


def account_to_json(acc: Account) -> dict[str, Any]:
    """Serialise an account with everything in it."""
    return {
        **{k: v for k, v in record_to_json(acc).items()
           if k not in ("settings", "positions", "orders", "live_orders", "oid_index", "plans", "plan_oids",
                        "fills")},
        "settings": {sym: record_to_json(s) for sym, s in acc.settings.items()},
        "positions": [record_to_json(p) for p in acc.positions.values()],
        "orders": [record_to_json(o) for o in acc.orders.values()],
        "oid_index": dict(acc.oid_index),
        "plans": [record_to_json(p) for p in acc.plans.values()],
        "plan_oids": sorted(acc.plan_oids),
        "fills": [{**row, "feeDetail": [dict(item) for item in row["feeDetail"]]} for row in acc.fills],
    }


def account_from_json(data: dict[str, Any]) -> Account:
    """Rebuild an account saved by account_to_json."""
    scalars = {k: v for k, v in data.items()
               if k not in ("settings", "positions", "orders", "oid_index", "plans", "plan_oids", "fills")}
    acc: Account = record_from_json(Account, scalars)
    acc.settings = {sym: SymbolSettings(**s) for sym, s in data.get("settings", {}).items()}
    for row in data.get("positions", []):
        pos: Position = record_from_json(Position, row)
        acc.positions[(pos.symbol, pos.hold_side)] = pos
    for row in data.get("orders", []):
        order: Order = record_from_json(Order, row)
        acc.orders[order.order_id] = order
        if order.status == "live":
            acc.live_orders[order.order_id] = order
    acc.oid_index = dict(data.get("oid_index", {}))
    for row in data.get("plans", []):
        plan: Plan = record_from_json(Plan, row)
        acc.plans[plan.plan_id] = plan
    acc.plan_oids = set(data.get("plan_oids", []))
    acc.fills = [dict(row) for row in data.get("fills", [])]
    return acc
