"""The request budget as the operator sees it: use per minute, per class, refresh interval, lockouts."""
from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import Flask


def budget_status(app: Flask) -> dict[str, Any]:
    """Requests per minute (total and per priority class), % of Bitget's 6000, the client refresh interval."""
    budget = app.extensions["gateway"].budget
    body: dict[str, Any] = {"enabled": budget is not None}
    if budget is not None:
        body.update(budget.snapshot().to_dict())
    body.update(app.extensions["refresh_pacer"].status())
    return body


def lockout_problem(app: Flask) -> dict[str, str] | None:
    """The banner while every request is held back after Bitget's rate limit was hit."""
    budget = app.extensions["gateway"].budget
    if budget is None:
        return None
    until = budget.snapshot().lockout_until
    if until is None:
        return None
    at = datetime.fromtimestamp(until, UTC).strftime("%H:%M UTC")
    return {"key": "rate-limit", "level": "error",
            "text": f"Bitget rate limit hit: every account blocked until {at}. Nothing is sent until then."}
