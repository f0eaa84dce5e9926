"""The close_all_pause action: flash-close one client under the replication lock, confirm, retry, tell the truth.

It runs in a background task so the refresh loop never waits for it. Each attempt takes the replication lock
(waiting a bounded time for a running action), flash-closes, re-reads the positions and forgets only the links
of positions that are really gone. A failed attempt is retried with backoff, bounded in time; the account
stays paused and the fired limit recorded whatever the outcome.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ...bitget.errors import BitgetError
from ...errors import BusyError
from ...store.extensions import db
from ...store.models import Account, PositionLink

if TYPE_CHECKING:
    from flask import Flask

    from ...bitget.models import Position

log = logging.getLogger(__name__)
RETRY_DELAYS = (1.0, 2.0, 4.0, 8.0)  # seconds before the 2nd, 3rd, ... attempt
LOCK_WAIT_SECONDS = 30.0
DEADLINE_SECONDS = 120.0


@dataclass(frozen=True)
class Attempt:
    """One try: the positions still open after it (None: unknown) and what went wrong."""

    left: tuple[Position, ...] | None
    error: str = ""


def close_and_pause(app: Flask, account_id: int, name: str, reason: str) -> Attempt:
    """Close the client's positions, retrying with backoff until flat or out of time; notify the outcome."""
    delays = [float(d) for d in app.config.get("LOSS_CLOSE_RETRY_DELAYS", RETRY_DELAYS)]
    wait = float(app.config.get("LOSS_CLOSE_LOCK_WAIT_SECONDS", LOCK_WAIT_SECONDS))
    deadline = time.monotonic() + float(app.config.get("LOSS_CLOSE_DEADLINE_SECONDS", DEADLINE_SECONDS))
    outcome = Attempt(None)
    for attempt in range(len(delays) + 1):
        try:
            outcome = close_once(app, account_id, max(0.1, min(wait, deadline - time.monotonic())))
        except (BusyError, BitgetError) as exc:  # lock busy, or the positions could not be re-read
            outcome = Attempt(None, str(exc))
        if outcome.left == ():
            break
        log.warning("loss protection close of %s, attempt %d failed: %s", name, attempt + 1,
                    outcome.error or "positions still open")
        if attempt >= len(delays) or time.monotonic() + delays[attempt] >= deadline:
            break
        time.sleep(delays[attempt])
    if outcome.left is None:  # the last attempt saw nothing: read what is open now, for the report only
        outcome = Attempt(read_positions(app, account_id), outcome.error)
    report(app, account_id, name, reason, outcome)
    return outcome


def read_positions(app: Flask, account_id: int) -> tuple[Position, ...] | None:
    """What is open now, read without the lock (for the report when no attempt got that far); None if unknown."""
    try:
        with app.app_context():
            account = db.session.get(Account, account_id)
            if account is None:
                return ()
            client = app.extensions["gateway"].client_for(account)
        return tuple(client.positions())
    except BitgetError as exc:
        log.warning("loss protection cannot read the positions of account %s: %s", account_id, exc)
        return None


def close_once(app: Flask, account_id: int, wait: float) -> Attempt:
    """One flash close under the replication lock, confirmed by re-reading the positions."""
    with app.app_context():
        account = db.session.get(Account, account_id)
        if account is None:
            return Attempt(())  # deleted meanwhile: nothing left to protect
        client = app.extensions["gateway"].client_for(account)
    service = app.extensions["replication"]
    error = ""
    with service.lock.hold("loss-protection", "loss", wait=wait):
        try:
            answer = client.close_positions()
            error = "; ".join(f"{f.symbol or ''} {f.message} ({f.code})".strip() for f in answer.failures)
        except BitgetError as exc:  # a lost answer may still have closed: the re-read decides
            error = str(exc)
        after = tuple(client.positions())
        app.extensions["state"].update(account_id, positions=after)
        forget_closed_links(app, account_id, after)
    return Attempt(after, error if after else "")


def forget_closed_links(app: Flask, account_id: int, still_open: tuple[Position, ...]) -> None:
    """Delete the links of this client's positions that are gone; keep those of positions still open."""
    with app.app_context():
        rows = db.session.query(PositionLink.symbol, PositionLink.hold_side).filter_by(account_id=account_id).all()
    open_keys = {p.key for p in still_open}
    links = app.extensions["replication"].links
    for symbol, hold_side in rows:
        if (symbol, hold_side) not in open_keys:
            links.delete(account_id, symbol, hold_side)


def failure_summary(attempt: Attempt) -> str:
    """What is still open (or that nothing is known) after the last attempt; '' when flat."""
    if attempt.left == ():
        return ""
    if attempt.left is None:
        return "close FAILED: positions unknown"
    return "close FAILED: still open " + ", ".join(f"{p.symbol} {p.hold_side} {p.total}" for p in attempt.left)


def outcome_text(attempt: Attempt) -> str:
    """'closed and paused' only when flat; otherwise what is still open (or unknown) and why."""
    summary = failure_summary(attempt)
    if not summary:
        return "closed and paused"
    return f"{summary}; paused" + (f" (last error: {attempt.error})" if attempt.error else "")


def report(app: Flask, account_id: int, name: str, reason: str, attempt: Attempt) -> None:
    """Notify the outcome and, on failure, add it to the fired reason shown on the client's row."""
    from ...notify import notify

    text = outcome_text(attempt)
    flat = attempt.left == ()
    if not flat:
        log.error("loss protection on %s: %s", name, text)
        with app.app_context():
            account = db.session.get(Account, account_id)
            if account is not None and account.loss_fired_reason == reason:
                account.loss_fired_reason = f"{reason} ({failure_summary(attempt)})"
                db.session.commit()
    left = [{"symbol": p.symbol, "hold_side": p.hold_side, "size": format(p.total, "f")}
            for p in attempt.left or ()]
    notify(app, "loss_protection", f"[copier] loss protection on {name}: {reason}; {text}.",
           {"account": name, "reason": reason, "action": "close_all_pause", "flat": flat, "still_open": left,
            "error": attempt.error or None})
