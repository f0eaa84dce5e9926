"""Loss protection: daily loss and drawdown limits per client, with a chosen action when one fires."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING

from ..extensions import db
from ..models import Account, get_setting, set_setting, utcnow

if TYPE_CHECKING:
    from flask import Flask


log = logging.getLogger(__name__)


def open_block_reason(account: Account) -> str | None:
    """Why opening is blocked for this client right now (None when it may open)."""
    fired = account.loss_fired_at
    if fired is None:
        return None
    reason = account.loss_fired_reason or "loss limit reached"
    if "daily" in reason and fired.astimezone(UTC).date() != datetime.now(UTC).date():
        return None  # a daily limit resets at 00:00 UTC
    return f"{reason}: close-only"


@dataclass(frozen=True)
class LossMarks:
    """Equity reference points for one account."""

    day: str
    day_start: Decimal
    peak: Decimal


def update_marks(account_id: int, equity: Decimal, today: str) -> LossMarks:
    """Record today's opening equity and the running peak (persisted, so restarts keep them)."""
    day_value = get_setting(f"loss.day.{account_id}")
    day, start = (day_value.split("|", 1) if day_value else ("", "0"))
    if day != today:
        day, start = today, format(equity, "f")
        set_setting(f"loss.day.{account_id}", f"{day}|{start}")
    peak_text = get_setting(f"loss.peak.{account_id}")
    peak = Decimal(peak_text) if peak_text else Decimal(0)
    if equity > peak:
        peak = equity
        set_setting(f"loss.peak.{account_id}", format(peak, "f"))
    return LossMarks(day, Decimal(start), peak)


def breached(account: Account, equity: Decimal, marks: LossMarks) -> str | None:
    """The limit this equity breaks, as an operator-readable reason (pure)."""
    if account.daily_loss_limit is not None:
        loss = marks.day_start - equity
        if loss >= account.daily_loss_limit:
            return f"daily loss {loss:.2f} USDT reached the limit of {account.daily_loss_limit} USDT"
    if account.drawdown_limit_pct is not None and marks.peak > 0:
        drawdown = (marks.peak - equity) / marks.peak * 100
        if drawdown >= account.drawdown_limit_pct:
            return f"drawdown {drawdown:.2f}% from peak {marks.peak:.2f} reached the limit of {account.drawdown_limit_pct}%"
    return None


def check_loss_limits(app: Flask, account_id: int, equity: Decimal) -> str | None:
    """Evaluate one client's limits with fresh equity; fire the chosen action once. Returns the reason if fired."""
    with app.app_context():
        account = db.session.get(Account, account_id)
        if account is None or account.is_master:
            return None
        if account.daily_loss_limit is None and account.drawdown_limit_pct is None:
            return None
        marks = update_marks(account.id, equity, datetime.now(UTC).date().isoformat())
        if open_block_reason(account) is not None:
            return None  # already fired and still in force
        reason = breached(account, equity, marks)
        if reason is None:
            return None
        account.loss_fired_at, account.loss_fired_reason = utcnow(), reason
        if account.loss_action == "close_all_pause":
            account.paused = True
        db.session.commit()
        name, action = account.name, account.loss_action
    log.warning("loss protection fired for %s: %s (%s)", name, reason, action)
    if action == "close_all_pause":
        close_client(app, account_id, name)
    from ..notify import notify

    what = "closed everything and paused it" if action == "close_all_pause" else "stopped opening (close only)"
    notify(app, "loss_protection", f"[copier] loss protection on {name}: {reason}; {what}.",
           {"account": name, "reason": reason, "action": action})
    return reason


def close_client(app: Flask, account_id: int, name: str) -> None:
    """Flash-close every position of one client (the close_all_pause action)."""
    with app.app_context():
        account = db.session.get(Account, account_id)
        client = app.extensions["gateway"].client_for(account)
    try:
        client.close_positions()
    except Exception as exc:  # reported, never raised into the refresh loop
        log.error("loss protection could not close %s: %s", name, exc)
    app.extensions["replication"].links.delete_all(account_id)


def reset_loss_protection(account: Account) -> None:
    """Clear a fired limit and restart the peak from now (operator action)."""
    account.loss_fired_at = None
    account.loss_fired_reason = None
    set_setting(f"loss.peak.{account.id}", "0")
    db.session.commit()
