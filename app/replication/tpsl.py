"""Mirror the master position's take-profit and stop-loss onto the linked client position."""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from app.bitget.models import Contract, Position
from app.replication.plan import Operation, Skip
from app.replication.sizing import fmt_decimal
from app.replication.state import (
    LONG,
    OP_CANCEL_TPSL,
    OP_MODIFY_TPSL,
    OP_PLACE_TPSL,
    PLAN_STOP_LOSS,
    PLAN_TAKE_PROFIT,
)


@dataclass(frozen=True)
class _Leg:
    """One of the two position-level plans (TP or SL) as seen on both accounts."""

    plan_type: str
    step: str
    label: str
    master_trigger: Decimal | None
    client_trigger: Decimal | None
    client_order_id: str | None
    own_order_id: str | None  # the plan the copier placed on this copy (None: it placed none)

    @property
    def client_owns(self) -> bool:
        """True when the client's plan on this leg was not placed by the copier (it set it by hand)."""
        return self.client_trigger is not None and (
            self.own_order_id is None or self.client_order_id != self.own_order_id
        )


def is_trigger_crossed(hold_side: str, plan_type: str, trigger: Decimal, mark: Decimal) -> bool:
    """True when the mark is already past the trigger, so Bitget would reject the plan."""
    take_profit = plan_type == PLAN_TAKE_PROFIT
    if hold_side == LONG:
        return trigger <= mark if take_profit else trigger >= mark
    return trigger >= mark if take_profit else trigger <= mark


def plan_tpsl(
    master: Position,
    client: Position | None,
    contract: Contract,
    mark: Decimal | None,
    own_ids: tuple[str | None, str | None] = (None, None),
) -> tuple[list[Operation], list[Skip]]:
    """TP/SL operations making the client's plans match the master's; only the copier's own plans change."""
    ops: list[Operation] = []
    skips: list[Skip] = []
    for leg in _legs(master, client, own_ids):
        outcome = _plan_leg(leg, master, contract, mark)
        if isinstance(outcome, Operation):
            ops.append(outcome)
        elif isinstance(outcome, Skip):
            skips.append(outcome)
    return ops, skips


def _legs(master: Position, client: Position | None, own_ids: tuple[str | None, str | None]) -> tuple[_Leg, _Leg]:
    """The TP leg and the SL leg."""
    return (
        _Leg(
            PLAN_TAKE_PROFIT,
            "tp",
            "take-profit",
            master.take_profit,
            client.take_profit if client else None,
            client.take_profit_id if client else None,
            own_ids[0],
        ),
        _Leg(
            PLAN_STOP_LOSS,
            "sl",
            "stop-loss",
            master.stop_loss,
            client.stop_loss if client else None,
            client.stop_loss_id if client else None,
            own_ids[1],
        ),
    )


def _plan_leg(
    leg: _Leg, master: Position, contract: Contract, mark: Decimal | None
) -> Operation | Skip | None:
    """The one operation (or skip) that brings this leg in line, None when it already is."""
    symbol, side = master.key
    if leg.client_owns:
        if leg.master_trigger is None:
            return None
        return Skip(
            symbol,
            side,
            f"the client's own {symbol} {side} {leg.label} at {fmt_decimal(leg.client_trigger)} stays; "
            f"the master's {fmt_decimal(contract.round_price(leg.master_trigger))} is not copied",
        )
    if leg.master_trigger is None:
        return _cancel(leg, symbol, side)
    trigger = contract.round_price(leg.master_trigger)
    if leg.client_trigger == trigger:
        return None
    if mark is not None and is_trigger_crossed(side, leg.plan_type, trigger, mark):
        return Skip(
            symbol,
            side,
            f"{symbol} {side}: the master's {leg.label} {fmt_decimal(trigger)} is already crossed by "
            f"mark {fmt_decimal(mark)}; not copied",
        )
    if leg.client_trigger is None:
        reason = f"place {symbol} {side} {leg.label} at {fmt_decimal(trigger)} (as the master)"
        return Operation(
            OP_PLACE_TPSL, symbol, side, plan_type=leg.plan_type, trigger_price=trigger, step=leg.step, reason=reason
        )
    if leg.client_order_id is None:
        return Skip(symbol, side, f"the client's {symbol} {side} {leg.label} has no order id: cannot modify it")
    reason = (
        f"move {symbol} {side} {leg.label} from {fmt_decimal(leg.client_trigger)} to {fmt_decimal(trigger)} "
        "(as the master)"
    )
    return Operation(
        OP_MODIFY_TPSL,
        symbol,
        side,
        plan_type=leg.plan_type,
        trigger_price=trigger,
        plan_order_id=leg.client_order_id,
        step=leg.step,
        reason=reason,
    )


def _cancel(leg: _Leg, symbol: str, side: str) -> Operation | Skip | None:
    """Cancel a client plan the master no longer has."""
    if leg.client_trigger is None:
        return None
    if leg.client_order_id is None:
        return Skip(symbol, side, f"the client's {symbol} {side} {leg.label} has no order id: cannot cancel it")
    reason = f"cancel {symbol} {side} {leg.label} {fmt_decimal(leg.client_trigger)} (the master has none)"
    return Operation(
        OP_CANCEL_TPSL,
        symbol,
        side,
        plan_type=leg.plan_type,
        plan_order_id=leg.client_order_id,
        step=leg.step,
        reason=reason,
    )
