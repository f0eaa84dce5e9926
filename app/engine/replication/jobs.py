"""The engine's view of one client: the job a worker carries, and the planner's state built from the cache."""
from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from ...bitget.client import BitgetClient
from ...bitget.errors import BitgetError
from ...bitget.models import SymbolAccount
from ...store.models import Account, PositionLink
from ...store.state import AccountView, StateCache
from .intents import AccountIntents
from .loss import open_block_reason
from .state import ClientSettings, ClientState, Link


@dataclass
class ClientJob:
    """Everything a worker needs for one client, gathered in the request thread (no ORM objects cross threads)."""

    account_id: int
    name: str
    client: BitgetClient
    settings: ClientSettings
    links: tuple[Link, ...]
    following_since_ms: int | None
    open_block_reason: str | None
    known_pos_mode: str | None
    uid: str | None = None
    link_uids: dict[tuple[str, str], str | None] = field(default_factory=dict)
    intents: AccountIntents = field(default_factory=AccountIntents)
    fresh: dict[str, SymbolAccount] = field(default_factory=dict)  # per-symbol account reads of this run
    read_errors: dict[str, BitgetError] = field(default_factory=dict)


def link_of(row: PositionLink) -> Link:
    """The planner's view of a stored position link."""
    return Link(
        row.symbol, row.hold_side, row.factor, int(row.created_at.timestamp() * 1000), generation=row.generation,
        opened=row.opened, ended_ms=int(row.ended_at.timestamp() * 1000) if row.ended_at else None,
        master_opened_ms=row.master_opened_ms, master_size=row.master_size, master_entry=row.master_entry,
        tp_order_id=row.tp_order_id, sl_order_id=row.sl_order_id,
        tpsl_mode=row.tpsl_mode, tp_pct=row.tp_pct, sl_pct=row.sl_pct,
    )


def settings_of(account: Account) -> ClientSettings:
    """The planner's view of a client's settings."""
    return ClientSettings(
        sizing_mode=account.sizing_mode, sizing_value=account.sizing_value, max_leverage=account.max_leverage,
        max_notional=account.max_notional, max_open_positions=account.max_open_positions,
        allowed_symbols=account.allowed_symbol_set, paused=account.paused, slippage_pct=account.slippage_pct,
        below_min_rule=account.below_min_rule, round_up_max_factor=account.round_up_max_factor,
        copy_existing=account.copy_existing, reenter_after_external_close=account.reenter_after_external_close,
        leverage_mode=account.leverage_mode, fixed_leverage=account.fixed_leverage, margin_mode=account.margin_mode,
        tpsl_mode=account.tpsl_mode, tp_pct=account.tp_pct, sl_pct=account.sl_pct,
        fixed_quantities=tuple(sorted((account.fixed_quantities or {}).items())), max_margin=account.max_margin,
    )


def cached_client_state(account: Account, view: AccountView | None, cache: StateCache,
                        links: Sequence[Link] | None = None) -> ClientState | None:
    """The planner's view of a client from the state cache (no requests); None while it is unknown."""
    if view is None or view.fetched_at is None or view.error or view.pos_mode is None:
        return None
    if links is None:
        links = [link_of(r) for r in account.links]
    return ClientState(
        account_id=account.id, name=account.name, equity=view.equity or Decimal(0), pos_mode=view.pos_mode,
        positions=view.positions, settings=settings_of(account), links=tuple(links),
        symbol_settings=cache.symbol_settings(account.id),
        following_since_ms=int(account.following_since.timestamp() * 1000),
        open_block_reason=open_block_reason(account), now_ms=int(time.time() * 1000),
    )


def equity_is_fresh(view: AccountView | None, max_age: float, now: float) -> bool:
    """True when the cached equity was read without error less than max_age seconds ago."""
    if view is None or view.equity is None or view.fetched_at is None:
        return False
    if view.error_at is not None and view.error_at >= view.fetched_at:
        return False
    return now - view.fetched_at <= max_age
