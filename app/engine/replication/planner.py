"""The replication planner: master and client states in, per-client intended operations out (pure, no I/O)."""
from __future__ import annotations

import sys
from collections import defaultdict
from collections.abc import Mapping, Sequence
from decimal import Decimal

from app.bitget.models import Contract, Position
from app.engine.replication.draft import ClientView, Key, PlanDraft
from app.engine.replication.links import judge_links
from app.engine.replication.plan import ClientPlan, LinkChange, Operation, Skip
from app.engine.replication.positions import (
    CopyTarget,
    copy_target,
    no_contract_reason,
    plan_grow,
    plan_orphans,
    plan_reduce,
)
from app.engine.replication.state import LINK_SNAPSHOT, OP_OPEN, TPSL_NONE, TPSL_OWN, ClientState, MasterState
from app.engine.replication.tpsl import plan_own_tpsl, plan_tpsl

__all__ = ["ClientPlan", "LinkChange", "Operation", "Skip", "plan_client", "plan_replication"]

PAUSED_REASON = "client is paused"


def plan_replication(
    master: MasterState,
    clients: Sequence[ClientState],
    contracts: Mapping[str, Contract],
    *,
    positions: bool = True,
    tpsl: bool = True,
    marks: Mapping[str, Decimal] | None = None,
) -> list[ClientPlan]:
    """Plan every client (in the given order): positions=True mirrors sizes, tpsl=True mirrors TP/SL."""
    return [
        plan_client(master, client, contracts, positions=positions, tpsl=tpsl, marks=marks) for client in clients
    ]


def plan_client(
    master: MasterState,
    client: ClientState,
    contracts: Mapping[str, Contract],
    *,
    positions: bool = True,
    tpsl: bool = True,
    marks: Mapping[str, Decimal] | None = None,
) -> ClientPlan:
    """Plan one client; `marks` (symbol -> mark price) overrides the marks carried by the positions."""
    if client.settings.paused:
        return ClientPlan(client.account_id, client.name, skips=(Skip("", "", PAUSED_REASON),))
    draft = PlanDraft(client.account_id, client.name)
    view = judge_links(ClientView.build(master, client, contracts, marks or {}), draft)
    if positions:
        mirrored = _plan_positions(view, draft)
    else:
        mirrored = [chosen for chosen, _ in _mirrored_positions(view, draft.closed_full)]
    if tpsl:
        _plan_all_tpsl(view, draft, mirrored)
    return draft.finish()


def _plan_positions(view: ClientView, draft: PlanDraft) -> list[Position]:
    """Closes and reductions first (they free slots and unlock margin mode), then opens; returns what is mirrored."""
    plan_orphans(view, draft)
    targets = _targets(view, draft, _mirrored_positions(view, draft.closed_full))
    for t in targets.values():
        if t.delta <= -t.contract.size_step:
            plan_reduce(draft, t)
    # a one-way copy closed just now frees the symbol: choose again, as the next run would
    selection = _mirrored_positions(view, draft.closed_full)
    mirrored = [chosen for chosen, _ in selection]
    targets = {p.key: targets[p.key] for p in mirrored if p.key in targets} | _targets(
        view, draft, [(p, None) for p in mirrored if p.key not in targets]
    )
    _report_one_way_choices(draft, selection)
    draft.open_count = sum(1 for key in view.client_by_key if key not in draft.closed_full)
    for _, t in sorted(targets.items()):
        # a missing copy is always examined, so a copy too small to open is reported rather than silent
        if t.delta >= t.contract.size_step or t.current == 0:
            plan_grow(view, draft, t)
    _snapshot_reached_targets(draft, targets)
    return mirrored


def _snapshot_reached_targets(draft: PlanDraft, targets: dict[Key, CopyTarget]) -> None:
    """Remember the master's size and entry on links whose copy is (or is now brought) at its target."""
    skipped = {(s.symbol, s.hold_side) for s in draft.skips}
    for key, t in sorted(targets.items()):
        link = t.link
        if link is None or key in skipped or key in draft.closed_full:
            continue
        if (link.master_size, link.master_entry) != (t.master.total, t.master.open_price_avg):
            draft.link(LinkChange(LINK_SNAPSHOT, *key, master_size=t.master.total,
                                  master_entry=t.master.open_price_avg))


def _targets(
    view: ClientView, draft: PlanDraft, selection: list[tuple[Position, Position | None]]
) -> dict[Key, CopyTarget]:
    """Copy targets for the chosen master positions (skipping those that must not be copied)."""
    targets = {}
    for chosen, _ in selection:
        if chosen.key in draft.not_copied:
            continue
        target = copy_target(view, draft, chosen)
        if target is not None:
            targets[chosen.key] = target
    return targets


def _mirrored_positions(view: ClientView, closed: set[Key]) -> list[tuple[Position, Position | None]]:
    """The master positions to mirror, sorted, each with the one it displaces (one-way clients: one side)."""
    by_symbol: dict[str, list[Position]] = defaultdict(list)
    for key, position in sorted(view.master_by_key.items()):
        by_symbol[key[0]].append(position)
    selection: list[tuple[Position, Position | None]] = []
    for _, group in sorted(by_symbol.items()):
        if view.client.one_way and len(group) > 1:
            chosen = _one_way_choice(view, group, closed)
            selection.append((chosen, next(p for p in group if p is not chosen)))
        else:
            selection += [(p, None) for p in group]
    return selection


def _report_one_way_choices(draft: PlanDraft, selection: list[tuple[Position, Position | None]]) -> None:
    """Say which side of a hedge master's symbol a one-way client does not mirror."""
    for chosen, other in selection:
        if other is not None:
            symbol = chosen.symbol
            draft.skip(
                symbol,
                other.hold_side,
                f"one-way client can hold only one side of {symbol}: mirroring the master's "
                f"{chosen.hold_side}, not its {other.hold_side}",
            )


def _one_way_choice(view: ClientView, group: list[Position], closed: set[Key]) -> Position:
    """The side a one-way client mirrors: the one it holds a copy of (not closed now), else the first opened."""

    def rank(position: Position) -> tuple[bool, int, str]:
        key = position.key
        held = key in view.links_by_key and key in view.client_by_key and key not in closed
        opened = position.c_time if position.c_time is not None else sys.maxsize
        return (not held, opened, position.hold_side)

    return min(group, key=rank)


def _plan_all_tpsl(view: ClientView, draft: PlanDraft, mirrored: list[Position]) -> None:
    """Mirror TP/SL onto every linked copy that exists (or is opened) after this plan."""
    for master_position in mirrored:
        key = master_position.key
        symbol, side = key
        if key in draft.not_copied or (key not in view.links_by_key and key not in draft.created_links):
            continue
        client_position = None if key in draft.opened else view.client_by_key.get(key)
        if (client_position is None and key not in draft.opened) or key in draft.closed_full:
            continue
        contract = view.contracts.get(symbol)
        if contract is None:
            draft.skip(symbol, side, no_contract_reason(symbol))
            continue
        link = view.links_by_key.get(key)
        # a copy keeps the TP/SL choice it was opened with; a copy opened by this plan takes today's
        settings = view.client.settings
        mode, pcts = (link.tpsl_mode, (link.tp_pct, link.sl_pct)) if link is not None else (
            settings.tpsl_mode, (settings.tp_pct, settings.sl_pct))
        if mode == TPSL_NONE:
            continue
        own_ids = (link.tp_order_id, link.sl_order_id) if link is not None else (None, None)
        mark = view.mark_for(symbol)
        if mode == TPSL_OWN:
            entry = _expected_entry(draft, key, client_position, mark)
            if entry is None:
                continue
            ops, skips = plan_own_tpsl(master_position, client_position, contract, mark, entry, pcts, own_ids)
        else:
            ops, skips = plan_tpsl(master_position, client_position, contract, mark, own_ids)
        draft.tpsl[symbol] += ops
        for skip in skips:
            draft.skip(skip.symbol, skip.hold_side, skip.reason)


def _expected_entry(draft: PlanDraft, key: Key, client: Position | None, mark: Decimal | None) -> Decimal | None:
    """The copy's average entry once this plan's market orders fill (at the mark); the next run uses the real one."""
    added = sum((op.size or 0 for op in draft.opens.get(key[0], []) if op.kind == OP_OPEN and op.key == key),
                Decimal(0))
    held = client.total if client is not None else Decimal(0)
    if added <= 0 or mark is None:
        return client.open_price_avg if client is not None and client.open_price_avg > 0 else None
    paid = held * client.open_price_avg if client is not None else Decimal(0)
    return (paid + added * mark) / (held + added)
