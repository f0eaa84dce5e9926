"""Watchdog: a copier that silently stops is the worst failure, so problems become banners and notifications."""
from __future__ import annotations

import time

from flask import Flask

from ..store.extensions import db
from ..store.models import Account
from ..web.budget_status import lockout_problem

STALE_POLLS = 3


def current_problems(app: Flask, accounts: list[Account]) -> list[dict[str, str]]:
    """Banners for the dashboard: stale master polling, failed authentication (from the cache; no exchange calls)."""
    problems: list[dict[str, str]] = []
    master = next((a for a in accounts if a.is_master), None)
    if master is None:
        problems.append({"key": "no-master", "level": "info", "text": "Add a master account to start copying."})
        return problems
    status = app.extensions["poller"].status
    interval = float(app.config["POLL_INTERVAL_SECONDS"])
    polling = "scheduler" in app.extensions
    last_ok = status.last_success_at
    if polling and (last_ok is None or time.time() - last_ok > STALE_POLLS * interval) and status.failures:
        age = "never" if last_ok is None else f"{time.time() - last_ok:.0f}s ago"
        problems.append({"key": "master-stale", "level": "error",
                         "text": f"The master has not been polled successfully for {STALE_POLLS} intervals "
                                 f"(last success {age}): {status.last_error}"})
    stream = stream_problem(app)
    if stream is not None:
        problems.append(stream)
    lockout = lockout_problem(app)
    if lockout is not None:
        problems.append(lockout)
    views = app.extensions["state"].all()
    for account in accounts:  # master first (the caller's order)
        view = views.get(account.id)
        if view is not None and view.auth_failed:
            who = "Master" if account.is_master else "Client"
            problems.append({"key": f"auth-{account.id}", "level": "error",
                             "text": f"{who} {account.name}: authentication failed - {view.error}"})
    return problems


def stream_problem(app: Flask) -> dict[str, str] | None:
    """The master's WebSocket: a refused login is an error (alerted once); an outage is a notice."""
    feed = app.extensions.get("master_feed")
    if feed is None or not feed.status.enabled:
        return None
    status = feed.status
    interval = float(app.config["POLL_INTERVAL_SECONDS"])
    if status.login_failed:
        return {"key": "master-stream-login", "level": "error",
                "text": f"The master's WebSocket login was refused ({status.reason}). Following by polling "
                        f"every {interval:g} s meanwhile."}
    if status.state == "down":
        return {"key": "master-stream-down", "level": "warning",
                "text": f"The master's WebSocket is down ({status.reason}). Following by polling every "
                        f"{interval:g} s until it reconnects."}
    return None


class Watchdog:
    """Announces each problem once when it appears and once when it clears."""

    def __init__(self) -> None:
        self.active: dict[str, str] = {}

    def check(self, app: Flask) -> tuple[list[str], list[str]]:
        """Compare with the last check; notify what appeared and what recovered."""
        from ..notify import notify

        with app.app_context():
            accounts = db.session.query(Account).order_by(Account.role.desc(), Account.name).all()
            problems = {p["key"]: p["text"] for p in current_problems(app, accounts) if p["level"] == "error"}
        appeared = [k for k in problems if k not in self.active]
        recovered = [k for k in self.active if k not in problems]
        for key in appeared:
            notify(app, "watchdog", f"[copier] PROBLEM: {problems[key]}", {"key": key, "state": "problem"})
        for key in recovered:
            notify(app, "watchdog", f"[copier] RECOVERED: {self.active[key]}", {"key": key, "state": "recovered"})
        self.active = problems
        return appeared, recovered
