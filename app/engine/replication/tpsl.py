"""TP/SL on the linked client position: mirror the master's, or place the client's own percentages of its entry."""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from app.bitget.models import Contract, Position
from app.engine.replication.plan import Operation, Skip
from app.engine.replication.sizing import fmt_decimal
from app.engine.replication.state import (
    LONG,
    OP_CANCEL_TPSL,
    OP_MODIFY_TPSL,
    OP_PLACE_TPSL,
    PLAN_STOP_LOSS,
    PLAN_TAKE_PROFIT,
)


@dataclass(frozen=True)
class _Origin:
    """Where the wanted triggers come from, in the words the reasons use."""

    how: str = "as the master"  # in "place ... at X (how)"
    whose: str = "the master's"  # in "the master's 70000 is not copied"
    absent: str = "the master has none"  # why a copier plan is cancelled
    setting: str = "TP/SL follow: the master's TP/SL"


FOLLOW_MASTER = _Origin()


@dataclass(frozen=True)
class _Leg:
    """One of the two position-level plans (TP or SL) as seen on both accounts."""

    plan_type: str
    step: str
    label: str
    wanted_trigger: Decimal | None  # the master's, or the client's own percentage
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
    return _plan_legs(master, client, contract, mark, own_ids, (master.take_profit, master.stop_loss), FOLLOW_MASTER)


def own_triggers(hold_side: str, entry: Decimal, tp_pct: Decimal | None,
                 sl_pct: Decimal | None) -> tuple[Decimal | None, Decimal | None]:
    """The client's own TP and SL prices: tp_pct% in profit and sl_pct% in loss from `entry` (None or 0: none)."""
    sign = 1 if hold_side == LONG else -1
    tp = entry * (1 + sign * tp_pct / 100) if tp_pct else None
    sl = entry * (1 - sign * sl_pct / 100) if sl_pct else None
    return tp, sl


def plan_own_tpsl(
    master: Position,
    client: Position | None,
    contract: Contract,
    mark: Decimal | None,
    entry: Decimal,
    pcts: tuple[Decimal | None, Decimal | None],
    own_ids: tuple[str | None, str | None] = (None, None),
) -> tuple[list[Operation], list[Skip]]:
    """TP/SL operations placing the client's own percentages of its average `entry`; the master's are ignored."""
    symbol, side = master.key
    tp_pct, sl_pct = pcts
    tp, sl = own_triggers(side, entry, tp_pct, sl_pct)
    skips = []
    for name, pct, price in (("take-profit", tp_pct, tp), ("stop-loss", sl_pct, sl)):
        if price is not None and contract.round_price(price) <= 0:
            skips.append(Skip(symbol, side, f"{symbol} {side}: a {fmt_decimal(pct)}% {name} from entry "
                                            f"{fmt_decimal(entry)} is not a price; not placed"))
    tp = tp if tp is not None and contract.round_price(tp) > 0 else None
    sl = sl if sl is not None and contract.round_price(sl) > 0 else None
    parts = [f"take-profit {fmt_decimal(tp_pct)}%" if tp_pct else "", f"stop-loss {fmt_decimal(sl_pct)}%" if sl_pct else ""]
    shown = " and ".join(p for p in parts if p) or "none"
    origin = _Origin(
        how=f"the client's own setting, from its entry {fmt_decimal(contract.round_price(entry))}",
        whose="the percentage setting's",
        absent="the client's own setting has none",
        setting=f"TP/SL own: {shown} of the client's average entry {fmt_decimal(contract.round_price(entry))}",
    )
    ops, leg_skips = _plan_legs(master, client, contract, mark, own_ids, (tp, sl), origin)
    return ops, skips + leg_skips


def _plan_legs(
    master: Position,
    client: Position | None,
    contract: Contract,
    mark: Decimal | None,
    own_ids: tuple[str | None, str | None],
    wanted: tuple[Decimal | None, Decimal | None],
    origin: _Origin,
) -> tuple[list[Operation], list[Skip]]:
    """The operations and skips bringing both legs to the wanted triggers."""
    ops: list[Operation] = []
    skips: list[Skip] = []
    for leg in _legs(client, own_ids, wanted):
        outcome = _plan_leg(leg, master, contract, mark, origin)
        if isinstance(outcome, Operation):
            ops.append(outcome)
        elif isinstance(outcome, Skip):
            skips.append(outcome)
    return ops, skips


def _legs(client: Position | None, own_ids: tuple[str | None, str | None],
          wanted: tuple[Decimal | None, Decimal | None]) -> tuple[_Leg, _Leg]:
    """The TP leg and the SL leg."""
    return (
        _Leg(
            PLAN_TAKE_PROFIT,
            "tp",
            "take-profit",
            wanted[0],
            client.take_profit if client else None,
            client.take_profit_id if client else None,
            own_ids[0],
        ),
        _Leg(
            PLAN_STOP_LOSS,
            "sl",
            "stop-loss",
            wanted[1],
            client.stop_loss if client else None,
            client.stop_loss_id if client else None,
            own_ids[1],
        ),
    )


def _plan_leg(
    leg: _Leg, master: Position, contract: Contract, mark: Decimal | None, origin: _Origin
) -> Operation | Skip | None:
    """The one operation (or skip) that brings this leg in line, None when it already is."""
    symbol, side = master.key
    if leg.client_owns:
        if leg.wanted_trigger is None:
            return None
        return Skip(
            symbol,
            side,
            f"the client's own {symbol} {side} {leg.label} at {fmt_decimal(leg.client_trigger)} stays; "
            f"{origin.whose} {fmt_decimal(contract.round_price(leg.wanted_trigger))} is not copied",
        )
    if leg.wanted_trigger is None:
        return _cancel(leg, symbol, side, origin)
    trigger = contract.round_price(leg.wanted_trigger)
    if leg.client_trigger == trigger:
        return None
    if mark is not None and is_trigger_crossed(side, leg.plan_type, trigger, mark):
        return Skip(
            symbol,
            side,
            f"{symbol} {side}: {origin.whose} {leg.label} {fmt_decimal(trigger)} is already crossed by "
            f"mark {fmt_decimal(mark)}; not copied",
        )
    if leg.client_trigger is None:
        reason = f"place {symbol} {side} {leg.label} at {fmt_decimal(trigger)} ({origin.how})"
        return Operation(
            OP_PLACE_TPSL, symbol, side, plan_type=leg.plan_type, trigger_price=trigger, step=leg.step, reason=reason,
            setting=origin.setting,
        )
    if leg.client_order_id is None:
        return Skip(symbol, side, f"the client's {symbol} {side} {leg.label} has no order id: cannot modify it")
    reason = (
        f"move {symbol} {side} {leg.label} from {fmt_decimal(leg.client_trigger)} to {fmt_decimal(trigger)} "
        f"({origin.how})"
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
        setting=origin.setting,
    )


def _cancel(leg: _Leg, symbol: str, side: str, origin: _Origin) -> Operation | Skip | None:
    """Cancel a client plan the master no longer has."""
    if leg.client_trigger is None:
        return None
    if leg.client_order_id is None:
        return Skip(symbol, side, f"the client's {symbol} {side} {leg.label} has no order id: cannot cancel it")
    reason = f"cancel {symbol} {side} {leg.label} {fmt_decimal(leg.client_trigger)} ({origin.absent})"
    return Operation(
        OP_CANCEL_TPSL,
        symbol,
        side,
        plan_type=leg.plan_type,
        plan_order_id=leg.client_order_id,
        step=leg.step,
        reason=reason,
        setting=origin.setting,
    )
