"""Builders for planner inputs: plain functions with defaults, overridden per test."""
from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from typing import Any

from app.bitget.models import Contract, Position
from app.engine.replication.plan import ClientPlan, Operation
from app.engine.replication.planner import plan_client
from app.engine.replication.state import ClientSettings, ClientState, Link, MasterState, SymbolSettings

D = Decimal

CONTRACT_DEFAULTS: dict[str, dict[str, Any]] = {
    "BTCUSDT": {"size_multiplier": D("0.0001"), "volume_place": 4, "min_trade_num": D("0.0001"), "price_place": 1},
    "ETHUSDT": {"size_multiplier": D("0.01"), "volume_place": 2, "min_trade_num": D("0.01"), "price_place": 2},
    "DOGEUSDT": {"size_multiplier": D("1"), "volume_place": 0, "min_trade_num": D("1"), "price_place": 5},
}
MARKS = {"BTCUSDT": D("60000"), "ETHUSDT": D("3000"), "DOGEUSDT": D("0.2")}
MASTER_EQUITY = D("10000")
LINK_FACTOR = D("0.6")


def make_contract(symbol: str = "BTCUSDT", **overrides: Any) -> Contract:
    """A contract with realistic rules for the symbol."""
    fields: dict[str, Any] = {
        "symbol": symbol,
        "base_coin": symbol.removesuffix("USDT"),
        "quote_coin": "USDT",
        "min_trade_num": D("0.0001"),
        "size_multiplier": D("0.0001"),
        "volume_place": 4,
        "price_place": 1,
        "price_end_step": D("1"),
        "min_trade_usdt": D("5"),
        "min_lever": 1,
        "max_lever": 125,
        "max_market_order_qty": D("1000000"),
        "max_order_qty": D("1000000"),
    }
    fields.update(CONTRACT_DEFAULTS.get(symbol, {}))
    fields.update(overrides)
    return Contract(**fields)


def make_contracts(*symbols: str) -> dict[str, Contract]:
    """Contracts by symbol (all known symbols by default)."""
    return {s: make_contract(s) for s in (symbols or tuple(CONTRACT_DEFAULTS))}


def make_position(**overrides: Any) -> Position:
    """An open position; mark and entry default to the symbol's test mark."""
    symbol = overrides.get("symbol", "BTCUSDT")
    mark = MARKS.get(symbol, D("100"))
    fields: dict[str, Any] = {
        "symbol": symbol,
        "margin_coin": "USDT",
        "hold_side": "long",
        "total": D("0.017"),
        "available": D("0.017"),
        "locked": D("0"),
        "open_price_avg": mark,
        "leverage": 10,
        "margin_mode": "crossed",
        "pos_mode": "hedge_mode",
        "margin_size": D("100"),
        "unrealized_pl": D("0"),
        "achieved_profits": D("0"),
        "liquidation_price": None,
        "mark_price": mark,
        "take_profit": None,
        "stop_loss": None,
        "take_profit_id": None,
        "stop_loss_id": None,
        "c_time": 2_000,
        "u_time": 2_000,
    }
    fields.update(overrides)
    if "available" not in overrides:
        fields["available"] = fields["total"]
    return Position(**fields)


def make_master(*positions: Position, equity: Decimal = MASTER_EQUITY) -> MasterState:
    """The master account."""
    return MasterState(equity=equity, positions=tuple(positions))


def make_settings(**overrides: Any) -> ClientSettings:
    """Client settings (defaults: equity ratio x1, no limits)."""
    return ClientSettings(**overrides)


def make_link(symbol: str = "BTCUSDT", hold_side: str = "long", factor: Decimal = LINK_FACTOR, **fields: Any) -> Link:
    """A link from a client copy to the master position (acknowledged, as after a successful open)."""
    return Link(symbol=symbol, hold_side=hold_side, factor=factor, created_ms=1_500, **fields)


def make_client(**overrides: Any) -> ClientState:
    """A hedge-mode client with 6,000 USDT (0.6 x the default master) following since t=1000."""
    fields: dict[str, Any] = {
        "account_id": 1,
        "name": "alice",
        "equity": D("6000"),
        "pos_mode": "hedge_mode",
        "positions": (),
        "settings": ClientSettings(),
        "links": (),
        "symbol_settings": {},
        "following_since_ms": 1_000,
        "open_block_reason": None,
    }
    settings = overrides.pop("settings", None)
    setting_overrides = {k: overrides.pop(k) for k in list(overrides) if k in ClientSettings.__dataclass_fields__}
    fields.update(overrides)
    if settings is not None:
        fields["settings"] = settings
    if setting_overrides:
        fields["settings"] = replace(fields["settings"], **setting_overrides)
    fields["positions"] = tuple(fields["positions"])
    fields["links"] = tuple(fields["links"])
    return ClientState(**fields)


def known_settings(margin_mode: str = "crossed", leverage: int = 10) -> SymbolSettings:
    """Symbol settings as read from the client account."""
    return SymbolSettings(margin_mode=margin_mode, long_leverage=leverage, short_leverage=leverage)


def plan_for(master: MasterState, client: ClientState, **kwargs: Any) -> ClientPlan:
    """Plan one client against all test contracts."""
    contracts = kwargs.pop("contracts", None) or make_contracts()
    return plan_client(master, client, contracts, **kwargs)


def kinds(plan: ClientPlan) -> list[str]:
    """The operation kinds in order."""
    return [op.kind for op in plan.operations]


def only(plan: ClientPlan, kind: str) -> Operation:
    """The single operation of a kind."""
    found = [op for op in plan.operations if op.kind == kind]
    assert len(found) == 1, f"expected one {kind}, got {plan.operations}"
    return found[0]


def skip_reasons(plan: ClientPlan) -> list[str]:
    """The skip reasons in order."""
    return [s.reason for s in plan.skips]
