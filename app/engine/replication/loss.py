"""Loss protection: daily loss and drawdown limits per client, measured from PnL, with a chosen action."""
from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING

from ...bitget.errors import BitgetError
from ...store.extensions import db
from ...store.models import Account, utcnow
from . import pnl

if TYPE_CHECKING:
    from flask import Flask

    from ...bitget.client import BitgetClient
    from ...bitget.models import Position


log = logging.getLogger(__name__)
_fire_lock = threading.Lock()  # two refreshes of one account must not both fire


def open_block_reason(account: Account) -> str | None:
    """Why opening is blocked for this client right now (None when it may open)."""
    fired = account.loss_fired_at
    if fired is None:
        return None
    reason = account.loss_fired_reason or "loss limit reached"
    if "daily" in reason and fired.astimezone(UTC).date() != datetime.now(UTC).date():
        return None  # a daily limit resets at 00:00 UTC
    return f"{reason}: close-only"


def breached(*, daily_limit: Decimal | None, drawdown_limit_pct: Decimal | None, loss_today: Decimal,
             peak: Decimal, current: Decimal) -> str | None:
    """The limit these PnL numbers break, as an operator-readable reason (pure; a zero loss never fires)."""
    if daily_limit is not None and loss_today > 0 and loss_today >= daily_limit:
        return f"daily loss {loss_today:.2f} USDT reached the limit of {daily_limit} USDT"
    drawdown = pnl.drawdown_pct(peak, current)
    if drawdown_limit_pct is not None and drawdown > 0 and drawdown >= drawdown_limit_pct:
        return f"drawdown {drawdown:.2f}% from peak {peak:.2f} reached the limit of {drawdown_limit_pct}%"
    return None


def check_loss_limits(app: Flask, account_id: int, client: BitgetClient, equity: Decimal,
                      positions: Sequence[Position], reader: pnl.FillReader | None = None) -> str | None:
    """Update one client's PnL from new fills and its positions; fire the chosen action once. Returns the reason.

    `reader` shares this refresh's fills read with the other trackers (performance)."""
    with app.app_context():
        account = db.session.get(Account, account_id)
        if account is None or account.is_master:
            return None
        daily_limit, drawdown_limit = account.daily_loss_limit, account.drawdown_limit_pct
        if daily_limit is None and drawdown_limit is None:
            return None
        before = pnl.load(account_id)
    unrealized = sum((p.unrealized_pl for p in positions), start=Decimal(0))
    day, day_start_ms = pnl.utc_day()
    try:
        if before is None:  # tracking starts: fills so far are history
            state = pnl.start(equity, unrealized, day, pnl.newest_fill(client))
        else:
            fills = (reader or pnl.FillReader(client)).new_fills(before)
            state = pnl.advance(before, fills, unrealized, day, day_start_ms)
    except BitgetError as exc:  # without the fills the PnL is unknown: judge nothing this time
        log.warning("loss protection cannot read the fills of account %s: %s", account_id, exc)
        return None
    with app.app_context():
        if state != before:
            pnl.save(account_id, state)
        reason = breached(daily_limit=daily_limit, drawdown_limit_pct=drawdown_limit,
                          loss_today=pnl.daily_loss(state, unrealized), peak=state.peak,
                          current=pnl.pnl_equity(state, unrealized))
        if reason is None:
            return None
        with _fire_lock:
            account = db.session.get(Account, account_id)  # a fresh session: sees another thread's commit
            if account is None or open_block_reason(account) is not None:
                return None  # already fired and still in force
            account.loss_fired_at, account.loss_fired_reason = utcnow(), reason
            if account.loss_action == "close_all_pause":
                account.paused = True
            db.session.commit()
            name, action = account.name, account.loss_action
    fire(app, account_id, name, reason, action)
    return reason


def fire(app: Flask, account_id: int, name: str, reason: str, action: str) -> None:
    """Carry out the action of a limit that just fired (the close runs in the background)."""
    log.warning("loss protection fired for %s: %s (%s)", name, reason, action)
    if action == "close_all_pause":
        from ..tasks import run_in_background
        from .loss_close import close_and_pause

        run_in_background(app, f"loss-close-{account_id}", lambda: close_and_pause(app, account_id, name, reason))
        return
    from ...notify import notify

    notify(app, "loss_protection", f"[copier] loss protection on {name}: {reason}; stopped opening (close only).",
           {"account": name, "reason": reason, "action": action})


def reset_loss_protection(account: Account) -> None:
    """Clear a fired limit and restart PnL tracking (day and peak) from the next check (operator action)."""
    account.loss_fired_at = None
    account.loss_fired_reason = None
    db.session.commit()
    pnl.save(account.id, None)
