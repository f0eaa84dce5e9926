"""Position reconciliation for one client: close orphans, then reduce or grow each copy towards its target."""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from app.bitget.models import Contract, Position
from app.engine.replication.draft import ClientView, Key, PlanDraft
from app.engine.replication.opening import leverage_source, margin_source, setup_ops
from app.engine.replication.plan import LinkChange, Operation
from app.engine.replication.sizing import (
    below_minimum_reason,
    effective_leverage,
    fmt_decimal,
    is_adverse_move,
    link_factor_for,
    margin_cap_size,
    minimum_size,
    move_pct,
    notional_cap_size,
    sizing_factor,
    sizing_problem,
    sizing_source,
    split_size,
    target_size,
)
from app.engine.replication.state import (
    BELOW_MIN_ROUND_UP,
    LINK_CREATE,
    LINK_DELETE,
    LINK_PARK,
    OP_CLOSE,
    OP_OPEN,
    Link,
)

ZERO = Decimal(0)


def no_contract_reason(symbol: str) -> str:
    """The skip reason for a symbol without known contract rules."""
    return f"no contract rules for {symbol}: not copied"


@dataclass(frozen=True)
class CopyTarget:
    """What one client copy should hold for one master position."""

    master: Position
    contract: Contract
    mark: Decimal | None
    link: Link | None
    client: Position | None  # the linked client position, if the client holds it
    factor: Decimal
    leverage: int  # for a new client position
    target: Decimal
    source: str = ""  # a new copy: which sizing setting produced its factor

    @property
    def order_leverage(self) -> int:
        """The leverage an order on this copy gets: the open copy's own, else the new copy's."""
        return self.client.leverage if self.client is not None and self.current > 0 else self.leverage

    @property
    def key(self) -> Key:
        """(symbol, hold_side)."""
        return self.master.key

    @property
    def current(self) -> Decimal:
        """What the client holds now."""
        return self.client.total if self.client is not None else ZERO

    @property
    def exact(self) -> Decimal:
        """The unrounded target."""
        return self.master.total * self.factor

    @property
    def delta(self) -> Decimal:
        """Target minus current: > 0 to grow, < 0 to reduce."""
        return self.target - self.current

    @property
    def basis(self) -> str:
        """How the target was computed, for reasons."""
        return f"master {fmt_decimal(self.master.total)} x {fmt_decimal(self.factor, 6)}"


def plan_orphans(view: ClientView, draft: PlanDraft) -> None:
    """Close linked client positions whose master position is gone, and delete their links."""
    for key, link in sorted(view.links_by_key.items()):
        if key in view.master_by_key:
            continue
        symbol, side = key
        # after a close outside the copier, what the client holds on this key is its own
        position = view.client_by_key.get(key) if link.ended_ms is None else None
        if position is not None:
            reason = f"close {symbol} {side} fully ({fmt_decimal(position.total)}): the master position is closed"
            draft.closes[symbol].append(
                Operation(
                    OP_CLOSE, symbol, side, size=position.total, full=True,
                    margin_mode=position.margin_mode, step="c", reason=reason,
                )
            )
            draft.closed_full.add(key)
        draft.link(LinkChange(LINK_DELETE, symbol, side))


def copy_target(view: ClientView, draft: PlanDraft, master_position: Position) -> CopyTarget | None:
    """The copy's target for one master position, or None (with a skip) when it must not be copied."""
    symbol, side = master_position.key
    contract = view.contracts.get(symbol)
    if contract is None:
        draft.skip(symbol, side, no_contract_reason(symbol))
        return None
    link = view.links_by_key.get(master_position.key)
    mark = view.mark_for(symbol)
    leverage = effective_leverage(master_position.leverage, view.client.settings, contract)
    source = ""
    if link is not None:
        factor: Decimal | None = link.factor
    else:
        factor = _new_copy_factor(view, draft, master_position, mark, leverage, contract)
        settings, client = view.client.settings, view.client
        source = sizing_source(settings, symbol, view.master.equity, client.equity, mark, leverage)
    if factor is None:
        return None
    client_position = view.client_by_key.get(master_position.key) if link is not None else None
    target = target_size(master_position.total, factor, contract)
    return CopyTarget(master_position, contract, mark, link, client_position, factor, leverage, target, source)


def _new_copy_factor(
    view: ClientView, draft: PlanDraft, master_position: Position, mark: Decimal | None, leverage: int,
    contract: Contract,
) -> Decimal | None:
    """The sizing factor for a copy that has no link yet, or None (with a skip)."""
    client = view.client
    reason = _new_copy_blocker(view, master_position) or sizing_problem(
        client.settings, view.master.equity, client.equity, mark, master_position.symbol
    )
    factor = None
    if reason is None:
        factor = sizing_factor(client.settings, view.master.equity, client.equity, master_position, mark, leverage,
                               contract)
        reason = "cannot size a copy" if factor is None else None
    if reason is not None:
        draft.skip(*master_position.key, reason)
    return factor


def _new_copy_blocker(view: ClientView, master_position: Position) -> str | None:
    """Why a master position without a link must not be copied (None when it may)."""
    client = view.client
    symbol, side = master_position.key
    if not client.settings.allows(symbol):
        return f"{symbol} is not in this client's allowed symbols"
    own = view.client_by_key.get(master_position.key)
    if own is not None:
        return f"the client holds its own {symbol} {side} ({fmt_decimal(own.total)}), not a copy: left untouched"
    since = client.following_since_ms
    started = master_position.c_time
    if since is not None and started is not None and started < since and not client.settings.copy_existing:
        return (
            f"master {symbol} {side} was opened before this client started following "
            "(copy existing positions is off)"
        )
    return None


def plan_reduce(draft: PlanDraft, t: CopyTarget) -> None:
    """Reduce the copy to its target; close it fully when the remainder would be below the minimum."""
    symbol, side = t.key
    assert t.client is not None
    size = t.contract.round_size_down(t.current - t.target)
    remainder = t.current - size
    if remainder < t.contract.min_trade_num:
        why = (
            "nothing is left to copy"
            if t.target <= 0
            else f"the remainder {fmt_decimal(remainder)} would be below {symbol} minimum "
            f"{fmt_decimal(t.contract.min_trade_num)}"
        )
        reason = f"close {symbol} {side} fully ({fmt_decimal(t.current)}): {t.basis} = {fmt_decimal(t.target)}, {why}"
        draft.closes[symbol].append(
            Operation(
                OP_CLOSE, symbol, side, size=t.current, full=True,
                margin_mode=t.client.margin_mode, step="c", reason=reason,
            )
        )
        draft.closed_full.add(t.key)
        # the master still holds: the link (and its frozen factor) stays, so the copy grows back with the master
        draft.link(LinkChange(LINK_PARK, symbol, side))
        return
    reason = f"reduce {symbol} {side} by {fmt_decimal(size)} to {fmt_decimal(t.target)} ({t.basis})"
    draft.closes[symbol] += _order_ops(OP_CLOSE, "c", t, size, t.client.margin_mode, t.client.leverage, reason,
                                       "size from the factor frozen when the copy was opened")


def plan_grow(view: ClientView, draft: PlanDraft, t: CopyTarget) -> None:
    """Open or increase the copy towards its target, unless a rule blocks it (then skip with a reason)."""
    symbol, side = t.key
    blocker = _grow_blocker(view, draft, t)
    if blocker is not None:
        draft.skip(symbol, side, blocker)
        return
    goal, cap_note = _capped_goal(view, t)
    if cap_note is not None and goal - t.current < t.contract.size_step:
        draft.skip(symbol, side, f"{symbol} {side} not increased: {cap_note}")
        return
    sized = _meet_minimum(view, draft, t, goal - t.current)
    if sized is None or (t.current == 0 and not _has_slot(view, draft, t)):
        return
    size, size_note = sized
    notes = "".join(f"; {note}" for note in (cap_note, size_note) if note)
    if t.current > 0:
        _increase(draft, t, size, notes)
    else:
        _open_new(view, draft, t, size, notes)


def _grow_blocker(view: ClientView, draft: PlanDraft, t: CopyTarget) -> str | None:
    """Why the copy must not grow now (None when it may)."""
    client = view.client
    settings = client.settings
    symbol, side = t.key
    if client.open_block_reason:
        return f"{client.open_block_reason}: opens and increases are blocked"
    if not settings.allows(symbol):
        return f"{symbol} is not in this client's allowed symbols: not increased"
    if t.mark is None:
        return f"no mark price for {symbol}: cannot size an order"
    entry, what = reference_price(t)
    if settings.slippage_pct is not None and is_adverse_move(side, entry, t.mark, settings.slippage_pct):
        return (
            f"mark {fmt_decimal(t.mark)} is {fmt_decimal(move_pct(entry, t.mark), 2)}% from {what} "
            f"{fmt_decimal(entry)}, beyond the {fmt_decimal(settings.slippage_pct)}% slippage guard"
        )
    others = draft.remaining_on_symbol(view, symbol, t.key)
    if t.current == 0 and client.one_way and others:
        return (
            f"one-way client holds a {symbol} {others[0].hold_side} position: "
            f"a {side} order would net against it"
        )
    return None


def reference_price(t: CopyTarget) -> tuple[Decimal, str]:
    """The price the master paid for what the copy is about to add, and how to name it.

    For a new copy that is the master's average entry. For an increase it is the price of the master's
    addition, derived from the change in its size and average entry since the copy last matched it: the
    average entry of a position that was opened long ago says nothing about the price of today's addition.
    """
    master = t.master
    link = t.link
    if t.current > 0 and link is not None and link.master_size is not None and link.master_entry is not None:
        added = master.total - link.master_size
        if added > 0 and link.master_size > 0:
            price = (master.total * master.open_price_avg - link.master_size * link.master_entry) / added
            if price > 0:
                return t.contract.round_price(price), "the price of the master's addition"
    return master.open_price_avg, "the master's entry"


def _capped_goal(view: ClientView, t: CopyTarget) -> tuple[Decimal, str | None]:
    """The size to grow to, capped by max notional and max margin (never below what the client already holds)."""
    settings = view.client.settings
    assert t.mark is not None
    caps: list[tuple[Decimal, str]] = []
    if settings.max_notional is not None:
        cap = notional_cap_size(settings.max_notional, t.mark, t.contract)
        caps.append((cap, f"capped at {fmt_decimal(cap)} by max notional {fmt_decimal(settings.max_notional)} USDT"))
    if settings.max_margin is not None:
        leverage = t.order_leverage
        cap = margin_cap_size(settings.max_margin, leverage, t.mark, t.contract)
        caps.append((cap, f"cut to {fmt_decimal(cap)} by max margin {fmt_decimal(settings.max_margin)} USDT "
                          f"per position at {leverage}x"))
    binding = [c for c in caps if c[0] < t.target]
    if not binding:
        return t.target, None
    cap, what = min(binding, key=lambda c: c[0])
    # only growth is capped: shrinking a copy because the price rose would churn on every tick
    note = f"{what} at mark {fmt_decimal(t.mark)} (target {fmt_decimal(t.target)})"
    return max(t.current, cap), note


def _meet_minimum(
    view: ClientView, draft: PlanDraft, t: CopyTarget, size: Decimal
) -> tuple[Decimal, str | None] | None:
    """The order size meeting the contract minimums (rounded up for new copies if allowed), or None."""
    settings = view.client.settings
    assert t.mark is not None
    # a target that floors to zero is reported with its exact size, which is what the operator can relate to
    shown = size if size > 0 else t.exact.quantize(t.contract.size_step.scaleb(-4))
    reason = below_minimum_reason(shown, t.contract, t.mark)
    if reason is None and size <= 0:
        step = fmt_decimal(t.contract.size_step)
        reason = f"Size {fmt_decimal(shown)} rounds down to 0 at {t.key[0]} size step {step}"
    if reason is None:
        return size, None
    # a linked copy keeps its frozen factor, so rounding it up would be undone by the next run
    if t.link is not None or settings.below_min_rule != BELOW_MIN_ROUND_UP:
        draft.skip(*t.key, reason)
        return None
    minimum = minimum_size(t.contract, t.mark)
    refusal = None
    if minimum > settings.round_up_max_factor * t.exact:
        refusal = (
            f"rounding up to {fmt_decimal(minimum)} would exceed {fmt_decimal(settings.round_up_max_factor)}x "
            f"the exact size {fmt_decimal(t.exact, 8)}"
        )
    elif settings.max_notional is not None and minimum * t.mark > settings.max_notional:
        refusal = f"rounding up to {fmt_decimal(minimum)} would exceed max notional {fmt_decimal(settings.max_notional)} USDT"
    elif settings.max_margin is not None and minimum * t.mark > settings.max_margin * max(t.order_leverage, 1):
        refusal = (f"rounding up to {fmt_decimal(minimum)} would exceed max margin "
                   f"{fmt_decimal(settings.max_margin)} USDT at {t.order_leverage}x")
    if refusal is not None:
        draft.skip(*t.key, f"{reason}; {refusal}")
        return None
    return minimum, f"rounded up from {fmt_decimal(size)} to the minimum {fmt_decimal(minimum)}"


def _has_slot(view: ClientView, draft: PlanDraft, t: CopyTarget) -> bool:
    """True when a new position fits under max open positions (else skip)."""
    limit = view.client.settings.max_open_positions
    if limit is None or draft.open_count < limit:
        return True
    symbol, side = t.key
    draft.skip(symbol, side, f"max open positions {limit} reached: {symbol} {side} not opened")
    return False


def _increase(draft: PlanDraft, t: CopyTarget, size: Decimal, notes: str) -> None:
    """Add to an existing copy."""
    symbol, side = t.key
    assert t.client is not None
    reason = f"increase {symbol} {side} by {fmt_decimal(size)} to {fmt_decimal(t.current + size)} ({t.basis}){notes}"
    setting = (f"size from the factor frozen when the copy was opened; leverage {t.client.leverage}x and margin "
               f"mode {t.client.margin_mode} of the open copy")
    draft.opens[symbol] += _order_ops(OP_OPEN, "o", t, size, t.client.margin_mode, t.client.leverage, reason,
                                      setting)


def _open_new(view: ClientView, draft: PlanDraft, t: CopyTarget, size: Decimal, notes: str) -> None:
    """Set margin mode and leverage as needed, open the copy, and link it."""
    symbol, side = t.key
    margin_mode, setup, lock_note = setup_ops(view, draft, t)
    if lock_note:
        notes += f"; {lock_note}"
    reason = f"open {fmt_decimal(size)} {symbol} {side} ({t.basis}){notes}"
    size_from = t.source or "size from the factor frozen when the copy was opened"
    setting = "; ".join([size_from, *[n.strip() for n in notes.split(";") if n.strip()],
                         f"leverage {t.leverage}x: {leverage_source(view, t)}",
                         f"margin mode {margin_mode}: {margin_source(view, t, margin_mode)}"])
    draft.opens[symbol] += setup + _order_ops(OP_OPEN, "o", t, size, margin_mode, t.leverage, reason, setting)
    draft.opened.add(t.key)
    draft.open_count += 1
    if t.link is None:
        # freeze the factor that reproduces what was opened, so a capped or rounded-up copy stays in sync
        factor = t.factor if size == t.target else link_factor_for(size, t.master.total, t.contract)
        settings = view.client.settings
        draft.link(LinkChange(
            LINK_CREATE, symbol, side, factor, master_size=t.master.total, master_entry=t.master.open_price_avg,
            master_opened_ms=t.master.c_time, tpsl_mode=settings.tpsl_mode, tp_pct=settings.tp_pct,
            sl_pct=settings.sl_pct,
        ))


def _order_ops(
    kind: str, step: str, t: CopyTarget, size: Decimal, margin_mode: str, leverage: int, reason: str,
    setting: str = "",
) -> list[Operation]:
    """One market order, or several when the size exceeds the contract's maxMarketOrderQty."""
    symbol, side = t.key
    parts = split_size(size, t.contract)
    count = len(parts)
    return [
        Operation(
            kind, symbol, side, size=part, margin_mode=margin_mode, leverage=leverage,
            step=step if index == 1 else f"{step}{index}",
            reason=reason if count == 1 else f"{reason} [order {index}/{count}]", setting=setting,
        )
        for index, part in enumerate(parts, 1)
    ]
