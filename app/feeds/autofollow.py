"""Why auto-follow is off: an emergency close switches it off and the dashboard says so until it is turned on again."""
from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import Flask

from ..store.extensions import db
from ..store.models import Setting, get_setting, set_setting
from .poller import auto_follow_enabled, set_auto_follow

OFF_REASON_KEY = "auto_follow_off_reason"
BANNER_KEY = "auto-follow-off"


def switch_off_for_emergency(app: Flask, action: str, now: datetime | None = None) -> str | None:
    """Turn auto-follow off before an emergency close; persist why and when (None when it was already off)."""
    was_on = auto_follow_enabled(app)
    set_auto_follow(False)  # first: a poller tick must not replicate while (or after) everything is closed
    if not was_on:
        return None
    stamp = (now or datetime.now(UTC)).astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    reason = f"switched off by the emergency close ({action}) at {stamp}"
    set_setting(OFF_REASON_KEY, reason)
    return reason


def off_reason() -> str | None:
    """Why an emergency close switched auto-follow off, or None (kept until the operator turns it on)."""
    return get_setting(OFF_REASON_KEY) or None


def active_off_reason(app: Flask) -> str | None:
    """The reason while auto-follow is still off, else None."""
    reason = off_reason()
    return None if reason is None or auto_follow_enabled(app) else reason


def set_by_operator(on: bool) -> None:
    """The operator's own toggle: persist it; turning auto-follow on again clears the emergency notice."""
    set_auto_follow(on)
    if on:
        row = db.session.get(Setting, OFF_REASON_KEY)
        if row is not None:
            db.session.delete(row)
            db.session.commit()


def off_banner(app: Flask) -> dict[str, Any] | None:
    """The dashboard banner while auto-follow stays off after an emergency close."""
    reason = active_off_reason(app)
    if reason is None:
        return None
    return {"key": BANNER_KEY, "level": "warning",
            "text": f"Auto-follow was {reason}; turn it on again deliberately."}
