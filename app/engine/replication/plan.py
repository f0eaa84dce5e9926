"""What the planner produces: per client, ordered operations, skips and link changes, each with a reason."""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal


@dataclass(frozen=True)
class Operation:
    """One intended exchange call on a client account."""

    kind: str
    symbol: str
    hold_side: str
    size: Decimal | None = None
    full: bool = False
    margin_mode: str | None = None
    leverage: int | None = None
    plan_type: str | None = None
    trigger_price: Decimal | None = None
    plan_order_id: str | None = None
    step: str = ""
    reason: str = ""
    setting: str = ""  # which client setting produced this operation (shown by the preview)

    @property
    def key(self) -> tuple[str, str]:
        """(symbol, hold_side) of the client position this operation concerns."""
        return (self.symbol, self.hold_side)


@dataclass(frozen=True)
class Skip:
    """Something the planner deliberately did not do, and why (symbol '' for the whole client)."""

    symbol: str
    hold_side: str
    reason: str


@dataclass(frozen=True)
class LinkChange:
    """Create, delete, end, confirm or re-snapshot the record tying a client position to the master position."""

    action: str
    symbol: str
    hold_side: str
    factor: Decimal | None = None
    ended_ms: int | None = None
    master_size: Decimal | None = None  # create/snapshot: the master's size and entry the copy now mirrors
    master_entry: Decimal | None = None
    master_opened_ms: int | None = None
    tpsl_mode: str = "follow"  # create: the TP/SL choice frozen on the new copy
    tp_pct: Decimal | None = None
    sl_pct: Decimal | None = None


@dataclass(frozen=True)
class ClientPlan:
    """Everything the planner intends for one client."""

    account_id: int
    name: str
    operations: tuple[Operation, ...] = ()
    skips: tuple[Skip, ...] = ()
    link_changes: tuple[LinkChange, ...] = ()

    @property
    def is_empty(self) -> bool:
        """True when there is nothing to send to the exchange."""
        return not self.operations
