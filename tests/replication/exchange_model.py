"""A pure in-memory model of a client account that executes a plan and enforces Bitget's constraints."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from decimal import Decimal

from app.bitget.models import Contract, Position
from app.engine.replication.plan import ClientPlan, Operation
from app.engine.replication.state import ClientState, Link, SymbolSettings
from app.engine.replication.tpsl import is_trigger_crossed

from .builders import make_position

Key = tuple[str, str]


@dataclass
class _Account:
    """Mutable copy of the client's positions and symbol settings while a plan runs."""

    client: ClientState
    contracts: Mapping[str, Contract]
    marks: Mapping[str, Decimal]
    positions: dict[Key, Position]
    settings: dict[str, SymbolSettings]

    def on_symbol(self, symbol: str) -> list[Position]:
        return [p for key, p in self.positions.items() if key[0] == symbol]


def apply_plan(
    client: ClientState, plan: ClientPlan, marks: Mapping[str, Decimal], contracts: Mapping[str, Contract]
) -> ClientState:
    """Execute a plan's operations in order, then its link changes; AssertionError on anything Bitget rejects."""
    account = _Account(client, contracts, marks, {p.key: p for p in client.positions}, dict(client.symbol_settings))
    for op in plan.operations:
        _HANDLERS[op.kind](account, op)
    links = {link.key: link for link in client.links}
    for change in plan.link_changes:
        key = (change.symbol, change.hold_side)
        if change.action == "delete":
            assert key in links, f"deleting a missing link {key}"
            del links[key]
        elif change.action == "create":
            assert key not in links and change.factor is not None and change.factor > 0
            links[key] = Link(change.symbol, change.hold_side, change.factor, created_ms=9_999,
                              master_size=change.master_size, master_entry=change.master_entry,
                              master_opened_ms=change.master_opened_ms, tpsl_mode=change.tpsl_mode,
                              tp_pct=change.tp_pct, sl_pct=change.sl_pct)
        elif change.action == "end":
            links[key] = replace(links[key], ended_ms=change.ended_ms)
        elif change.action == "confirm":
            links[key] = replace(links[key], opened=True)
        elif change.action == "park":
            links[key] = replace(links[key], opened=False)
        else:
            assert change.action == "snapshot"
            links[key] = replace(links[key], master_size=change.master_size, master_entry=change.master_entry)
    for op in plan.operations:  # the applier confirms opened links and remembers the TP/SL plans it placed
        if op.kind == "open" and op.key in links:
            links[op.key] = replace(links[op.key], opened=True)
        if op.kind in ("place_tpsl", "cancel_tpsl") and op.key in links:
            placed = f"{op.plan_type}-{op.symbol}-{op.hold_side}" if op.kind == "place_tpsl" else None
            field = "tp_order_id" if op.plan_type == "pos_profit" else "sl_order_id"
            links[op.key] = replace(links[op.key], **{field: placed})
    return replace(
        client,
        positions=tuple(p for _, p in sorted(account.positions.items())),
        links=tuple(link for _, link in sorted(links.items())),
        symbol_settings=account.settings,
    )


def _set_margin_mode(account: _Account, op: Operation) -> None:
    assert op.margin_mode in ("crossed", "isolated")
    assert not account.on_symbol(op.symbol), f"margin mode of {op.symbol} changed while holding a position"
    old = account.settings.get(op.symbol)
    account.settings[op.symbol] = SymbolSettings(
        op.margin_mode, old.long_leverage if old else 1, old.short_leverage if old else 1
    )


def _set_leverage(account: _Account, op: Operation) -> None:
    contract = account.contracts[op.symbol]
    assert op.leverage is not None and contract.min_lever <= op.leverage <= contract.max_lever
    old = account.settings.get(op.symbol) or SymbolSettings(op.margin_mode or "crossed", 1, 1)
    if op.hold_side == "long":
        account.settings[op.symbol] = replace(old, long_leverage=op.leverage)
    else:
        account.settings[op.symbol] = replace(old, short_leverage=op.leverage)


def _open(account: _Account, op: Operation) -> None:
    contract = account.contracts[op.symbol]
    mark = account.marks[op.symbol]
    assert op.size is not None and op.size > 0 and op.size % contract.size_step == 0
    assert op.size >= contract.min_trade_num and op.size * mark >= contract.min_trade_usdt, f"below minimum: {op}"
    assert op.size <= contract.max_market_order_qty
    if account.client.one_way:
        others = [p for p in account.on_symbol(op.symbol) if p.hold_side != op.hold_side]
        assert not others, f"one-way open {op.key} would net against {others}"
    existing = account.positions.get(op.key)
    if existing is not None:
        # a market order fills at the mark, so the average entry moves towards it
        total = existing.total + op.size
        entry = (existing.total * existing.open_price_avg + op.size * mark) / total
        account.positions[op.key] = replace(existing, total=total, open_price_avg=entry)
        return
    known = account.settings.get(op.symbol)
    locked = account.on_symbol(op.symbol)
    margin_mode = locked[0].margin_mode if locked else (known.margin_mode if known else "crossed")
    assert op.margin_mode == margin_mode, f"open {op.key} in {op.margin_mode}, the symbol is {margin_mode}"
    account.positions[op.key] = make_position(
        symbol=op.symbol, hold_side=op.hold_side, total=op.size, margin_mode=margin_mode,
        leverage=known.leverage_for(op.hold_side) if known else 1, open_price_avg=mark, mark_price=mark,
        pos_mode=account.client.pos_mode, c_time=9_999,
    )


def _close(account: _Account, op: Operation) -> None:
    position = account.positions.get(op.key)
    assert position is not None, f"close of a missing position {op.key}"
    assert op.size is not None and 0 < op.size <= position.total, "a close must be reduce-only"
    left = position.total - op.size
    if op.full:
        assert left == 0
    else:
        assert left >= account.contracts[op.symbol].min_trade_num, f"remainder {left} below minimum"
    if left == 0:
        del account.positions[op.key]
    else:
        account.positions[op.key] = replace(position, total=left)


def _tpsl_fields(op: Operation) -> tuple[str, str]:
    return ("take_profit", "take_profit_id") if op.plan_type == "pos_profit" else ("stop_loss", "stop_loss_id")


def _place_tpsl(account: _Account, op: Operation) -> None:
    position = account.positions.get(op.key)
    assert position is not None, f"TP/SL on a missing position {op.key}"
    trigger_field, id_field = _tpsl_fields(op)
    assert getattr(position, trigger_field) is None, "duplicate TP/SL"
    _check_trigger(account, op)
    ident = f"{op.plan_type}-{op.symbol}-{op.hold_side}"
    account.positions[op.key] = replace(position, **{trigger_field: op.trigger_price, id_field: ident})


def _modify_tpsl(account: _Account, op: Operation) -> None:
    position = account.positions[op.key]
    trigger_field, id_field = _tpsl_fields(op)
    assert op.plan_order_id is not None and getattr(position, id_field) == op.plan_order_id
    _check_trigger(account, op)
    account.positions[op.key] = replace(position, **{trigger_field: op.trigger_price})


def _cancel_tpsl(account: _Account, op: Operation) -> None:
    position = account.positions[op.key]
    trigger_field, id_field = _tpsl_fields(op)
    assert op.plan_order_id is not None and getattr(position, id_field) == op.plan_order_id
    account.positions[op.key] = replace(position, **{trigger_field: None, id_field: None})


def _check_trigger(account: _Account, op: Operation) -> None:
    contract = account.contracts[op.symbol]
    assert op.trigger_price is not None and op.plan_type is not None
    assert op.trigger_price % contract.tick == 0, "trigger off the tick"
    assert not is_trigger_crossed(op.hold_side, op.plan_type, op.trigger_price, account.marks[op.symbol])


_HANDLERS = {
    "set_margin_mode": _set_margin_mode,
    "set_leverage": _set_leverage,
    "open": _open,
    "close": _close,
    "place_tpsl": _place_tpsl,
    "modify_tpsl": _modify_tpsl,
    "cancel_tpsl": _cancel_tpsl,
}
