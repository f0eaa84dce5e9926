"""Carries out one client's planned operations, in order, with that client's BitgetClient."""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Protocol

from ...bitget.client import BitgetClient
from ...bitget.errors import BitgetError, RetryableError
from ...web.serialize import plain
from .intents import IntentBook
from .orders import order_kwargs, tpsl_hold_side
from .planner import ClientPlan, Operation
from .state import SymbolSettings

ORDER_KINDS = {"open", "close", "place_tpsl", "modify_tpsl", "cancel_tpsl"}


@dataclass
class ApplyResult:
    """What happened when a plan was carried out."""

    done: list[Operation] = field(default_factory=list)
    orders: list[dict[str, Any]] = field(default_factory=list)
    failures: list[tuple[Operation, BitgetError]] = field(default_factory=list)
    blocked: list[Operation] = field(default_factory=list)  # not tried: an earlier step on its symbol failed

    @property
    def failed(self) -> Operation | None:
        """The first operation that failed."""
        return self.failures[0][0] if self.failures else None

    @property
    def error(self) -> BitgetError | None:
        """The first failure's error."""
        return self.failures[0][1] if self.failures else None

    @property
    def failed_symbols(self) -> set[str]:
        """Symbols on which something failed."""
        return {op.symbol for op, _ in self.failures}


class LinkHooks(Protocol):
    """What the applier tells the link records as orders are answered."""

    def generation_for_open(self, op: Operation) -> int: ...
    def generation_of(self, op: Operation) -> int: ...
    def opened(self, op: Operation) -> None: ...
    def open_refused(self, op: Operation) -> None: ...
    def closed(self, op: Operation) -> None: ...
    def tpsl_placed(self, op: Operation, order_id: str | None) -> None: ...


@dataclass
class PlanApplier:
    """Executes one account's operations in order; a failure stops only the later steps of its own symbol.

    Closes come first in every plan, so a refused open on one symbol never keeps another symbol's copy open.
    """

    client: BitgetClient
    account_id: int
    pos_mode: str
    settings: dict[str, SymbolSettings]
    learn: Callable[[str, SymbolSettings], None]
    links: LinkHooks
    intents: IntentBook
    detected_at: float | None = None
    master_entries: dict[tuple[str, str], Decimal] = field(default_factory=dict)

    def apply(self, plan: ClientPlan) -> ApplyResult:
        """Run every operation of the plan in order, symbol by symbol independent."""
        result = ApplyResult()
        for op in plan.operations:
            if op.symbol in result.failed_symbols:
                result.blocked.append(op)
                continue
            started = time.time()
            try:
                record = self._execute(op)
            except BitgetError as exc:
                result.failures.append((op, exc))
                continue
            result.done.append(op)
            if record is not None:
                result.orders.append(self._timed(record, started))
        return result

    def _timed(self, record: dict[str, Any], started: float) -> dict[str, Any]:
        acked = time.time()
        record["submit_to_ack_ms"] = round((acked - started) * 1000)
        if self.detected_at is not None:
            record["detect_to_submit_ms"] = round((started - self.detected_at) * 1000)
        return record

    def _execute(self, op: Operation) -> dict[str, Any] | None:
        handler = getattr(self, f"_do_{op.kind}")
        return handler(op)

    def _margin_mode(self, op: Operation) -> str:
        known = self.settings.get(op.symbol)
        return op.margin_mode or (known.margin_mode if known else "crossed")

    def _do_set_margin_mode(self, op: Operation) -> None:
        self.client.set_margin_mode(op.symbol, op.margin_mode)
        old = self.settings.get(op.symbol)
        # leverages after a mode switch are unknown until set; keep what we knew for the planner's next look
        learnt = SymbolSettings(op.margin_mode, old.long_leverage if old else 0, old.short_leverage if old else 0)
        self.settings[op.symbol] = learnt
        self.learn(op.symbol, learnt)

    def _do_set_leverage(self, op: Operation) -> None:
        margin = self._margin_mode(op)
        one_side = margin == "isolated" and self.pos_mode == "hedge_mode"
        self.client.set_leverage(op.symbol, int(op.leverage), hold_side=op.hold_side if one_side else None)
        old = self.settings.get(op.symbol) or SymbolSettings(margin, 0, 0)
        if one_side:
            long_lev = op.leverage if op.hold_side == "long" else old.long_leverage
            short_lev = op.leverage if op.hold_side == "short" else old.short_leverage
        else:
            long_lev = short_lev = op.leverage
        learnt = SymbolSettings(margin, int(long_lev), int(short_lev))
        self.settings[op.symbol] = learnt
        self.learn(op.symbol, learnt)

    def _order(self, op: Operation, generation: int) -> dict[str, Any]:
        intent = self.intents.begin(op, generation)
        kwargs = order_kwargs(op, self.pos_mode, self._margin_mode(op))
        try:
            ack = self.client.place_order(**kwargs, client_oid=intent.client_oid)
        except BitgetError as exc:
            self.intents.failed(intent, exc)
            raise
        self.intents.acked(intent, ack.order_id)
        return {
            "kind": op.kind, "symbol": op.symbol, "hold_side": op.hold_side, "size": plain(op.size),
            "client_oid": intent.client_oid, "order_id": ack.order_id, "replayed": ack.replayed,
            "master_entry": plain(self.master_entries.get((op.symbol, op.hold_side))),
        }

    def _do_open(self, op: Operation) -> dict[str, Any]:
        generation = self.links.generation_for_open(op)
        try:
            record = self._order(op, generation)
        except BitgetError as exc:
            if not isinstance(exc, RetryableError):
                self.links.open_refused(op)
            raise
        self.links.opened(op)
        return record

    def _do_close(self, op: Operation) -> dict[str, Any]:
        record = self._order(op, self.links.generation_of(op))
        if op.full:
            self.links.closed(op)
        return record

    def _do_place_tpsl(self, op: Operation) -> dict[str, Any]:
        intent = self.intents.begin(op, self.links.generation_of(op))
        try:
            ack = self.client.place_tpsl(
                symbol=op.symbol, plan_type=op.plan_type, trigger_price=op.trigger_price,
                hold_side=tpsl_hold_side(op.hold_side, self.pos_mode), client_oid=intent.client_oid,
            )
        except BitgetError as exc:
            self.intents.failed(intent, exc)
            raise
        self.intents.acked(intent, ack.order_id)
        self.links.tpsl_placed(op, ack.order_id)
        return {"kind": op.kind, "symbol": op.symbol, "hold_side": op.hold_side, "plan_type": op.plan_type,
                "trigger_price": plain(op.trigger_price), "client_oid": intent.client_oid, "order_id": ack.order_id}

    def _do_modify_tpsl(self, op: Operation) -> dict[str, Any]:
        ack = self.client.modify_tpsl(symbol=op.symbol, order_id=op.plan_order_id, trigger_price=op.trigger_price)
        self.links.tpsl_placed(op, ack.order_id or op.plan_order_id)
        return {"kind": op.kind, "symbol": op.symbol, "hold_side": op.hold_side, "plan_type": op.plan_type,
                "trigger_price": plain(op.trigger_price), "order_id": ack.order_id or op.plan_order_id}

    def _do_cancel_tpsl(self, op: Operation) -> dict[str, Any]:
        self.client.cancel_plans(op.symbol, op.plan_type, [op.plan_order_id])
        self.links.tpsl_placed(op, None)
        return {"kind": op.kind, "symbol": op.symbol, "hold_side": op.hold_side, "plan_type": op.plan_type,
                "order_id": op.plan_order_id}
