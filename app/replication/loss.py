"""Loss protection state: whether a client may open new positions today."""
from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..models import Account
    from ..state import AccountView


def open_block_reason(account: Account, view: AccountView | None) -> str | None:
    """Why opening is blocked for this client right now (None when it may open)."""
    fired = account.loss_fired_at
    if fired is None:
        return None
    if fired.astimezone(UTC).date() != datetime.now(UTC).date() and "drawdown" not in (account.loss_fired_reason or ""):
        return None  # a daily limit resets at 00:00 UTC
    return f"{account.loss_fired_reason or 'loss limit reached'}: close-only"
