"""Keeps one client's position links in step with what the exchange answered during one sync."""
from __future__ import annotations

from datetime import UTC, datetime

from .plan import ClientPlan, Operation
from .recording import LinkStore
from .state import (
    LINK_CONFIRM,
    LINK_CREATE,
    LINK_DELETE,
    LINK_END,
    LINK_PARK,
    LINK_SNAPSHOT,
    OP_CLOSE,
    PLAN_TAKE_PROFIT,
)

Key = tuple[str, str]


class LinkRecorder:
    """The applier's link hooks: a link is written before its open, confirmed by the ack, removed on refusal.

    Changes the planner decided from facts alone (a copy closed outside the copier, a confirmed open, a
    dropped link) are stored before any order; snapshots of the master's size and entry only after every
    step on their symbol went through.
    """

    def __init__(self, store: LinkStore, job, plan: ClientPlan) -> None:
        self.store = store
        self.account_id = job.account_id
        self.uid = job.uid
        self.plan = plan
        self.generations: dict[Key, int] = {link.key: link.generation for link in job.links}
        self.unopened: set[Key] = {link.key for link in job.links if not link.opened}
        self.creates = {(c.symbol, c.hold_side): c for c in plan.link_changes if c.action == LINK_CREATE}
        self.closing = {op.key for op in plan.operations if op.kind == OP_CLOSE and op.full}
        self.parked = {(c.symbol, c.hold_side) for c in plan.link_changes if c.action == LINK_PARK}

    def before_orders(self) -> None:
        """Store the link changes that need no exchange answer."""
        for change in self.plan.link_changes:
            key = (change.symbol, change.hold_side)
            if change.action == LINK_END:
                ended = datetime.fromtimestamp((change.ended_ms or 0) / 1000, UTC)
                self.store.update(self.account_id, *key, ended_at=ended)
            elif change.action == LINK_CONFIRM:
                self.store.update(self.account_id, *key, opened=True)
                self.unopened.discard(key)
            elif change.action == LINK_DELETE and key not in self.closing:
                self.store.delete(self.account_id, *key)
                self.generations.pop(key, None)

    def after_orders(self, failed_symbols: set[str]) -> None:
        """Remember the master's size and entry on copies whose symbol went through untroubled."""
        for change in self.plan.link_changes:
            if change.action == LINK_SNAPSHOT and change.symbol not in failed_symbols:
                self.store.update(self.account_id, change.symbol, change.hold_side,
                                  master_size=change.master_size, master_entry=change.master_entry)

    # --- hooks called by the applier -------------------------------------------------------------------
    def generation_for_open(self, op: Operation) -> int:
        """The link generation an open belongs to; a new copy's link is written first."""
        change = self.creates.pop(op.key, None)
        if change is not None:
            self.generations[op.key] = self.store.create(
                self.account_id, op.symbol, op.hold_side, change.factor, uid=self.uid,
                master_size=change.master_size, master_entry=change.master_entry,
                master_opened_ms=change.master_opened_ms, tpsl_mode=change.tpsl_mode, tp_pct=change.tp_pct,
                sl_pct=change.sl_pct,
            )
            self.unopened.add(op.key)
        return self.generation_of(op)

    def generation_of(self, op: Operation) -> int:
        """The generation of the link on this operation's key."""
        return self.generations.get(op.key, 0)

    def opened(self, op: Operation) -> None:
        """The opening order was acknowledged: the link stands for a real copy now."""
        if op.key in self.unopened:
            self.unopened.discard(op.key)
            self.store.update(self.account_id, *op.key, opened=True)

    def open_refused(self, op: Operation) -> None:
        """The exchange refused the first open of a copy: its link must not stay behind."""
        if op.key in self.unopened:
            self.unopened.discard(op.key)
            self.generations.pop(op.key, None)
            self.store.delete(self.account_id, *op.key)

    def closed(self, op: Operation) -> None:
        """The copy was closed in full: forget the link, or park it when the master still holds."""
        if op.key in self.parked:
            self.store.update(self.account_id, *op.key, opened=False)
            return
        self.store.delete(self.account_id, *op.key)
        self.generations.pop(op.key, None)

    def tpsl_placed(self, op: Operation, order_id: str | None) -> None:
        """Remember (or forget, with None) the TP/SL plan the copier owns on this copy."""
        column = "tp_order_id" if op.plan_type == PLAN_TAKE_PROFIT else "sl_order_id"
        self.store.update(self.account_id, *op.key, **{column: order_id})
