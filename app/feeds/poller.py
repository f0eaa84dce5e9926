"""Master polling, level-triggered: every tick reads the master and, with auto-follow on, reconciles every
client whose plan has operations (drift), judged on the cached client states so it costs no requests.

The master is read while the replication lock is held, so a run never acts on a read taken before another
run (a close-all, say) finished. A change of the master is reported, but it is not what triggers a run.
"""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from decimal import Decimal

from flask import Flask
from sqlalchemy.orm import selectinload

from ..bitget.errors import BitgetError
from ..bitget.models import Position
from ..engine.replication.planner import plan_replication
from ..engine.replication.state import MasterState
from ..errors import BusyError, CopierError
from ..store.extensions import db
from ..store.models import Account, get_setting, set_setting

log = logging.getLogger(__name__)
AUTO_FOLLOW_KEY = "auto_follow"
MAX_BACKOFF_SECONDS = 60.0
LOCK_WAIT_SECONDS = 10.0  # a run a push asked for (or the reconcile after a connect) waits for a running one


@dataclass(frozen=True)
class Change:
    """One detected difference in the master's positions."""

    kind: str  # opened | increased | reduced | closed | tpsl
    symbol: str
    hold_side: str
    detail: str


Signature = dict[tuple[str, str], tuple[Decimal, Decimal | None, Decimal | None]]


def signature(positions: tuple[Position, ...] | list[Position]) -> Signature:
    """What matters for copying: size and TP/SL per (symbol, side)."""
    return {p.key: (p.total, p.take_profit, p.stop_loss) for p in positions}


def detect_changes(before: Signature | None, after: Signature) -> list[Change]:
    """Differences between two signatures (the first observation reports nothing)."""
    if before is None:
        return []
    changes: list[Change] = []
    for key in sorted(set(before) | set(after)):
        old, new = before.get(key), after.get(key)
        if old is None:
            changes.append(Change("opened", *key, f"size {new[0]}"))
        elif new is None:
            changes.append(Change("closed", *key, f"was {old[0]}"))
        else:
            if new[0] > old[0]:
                changes.append(Change("increased", *key, f"{old[0]} -> {new[0]}"))
            elif new[0] < old[0]:
                changes.append(Change("reduced", *key, f"{old[0]} -> {new[0]}"))
            if new[1:] != old[1:]:
                changes.append(Change("tpsl", *key, f"TP {new[1] or '-'} SL {new[2] or '-'}"))
    return changes


@dataclass
class PollerStatus:
    """What the dashboard and /healthz show about polling."""

    last_success_at: float | None = None
    last_error: str | None = None
    last_error_at: float | None = None
    failures: int = 0
    pending: bool = False  # a change was seen but not yet replicated
    last_changes: list[str] = field(default_factory=list)
    next_attempt_at: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)


def auto_follow_enabled(app: Flask) -> bool:
    """The persisted toggle, defaulting to AUTO_REPLICATE."""
    value = get_setting(AUTO_FOLLOW_KEY)
    return bool(app.config.get("AUTO_REPLICATE")) if value is None else value == "1"


def set_auto_follow(on: bool) -> None:
    """Persist the auto-follow toggle."""
    set_setting(AUTO_FOLLOW_KEY, "1" if on else "0")


class MasterPoller:
    """One tick = take the lock, read the master, find drifting clients, reconcile them. Tested without the scheduler."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.status = PollerStatus()
        self._last: Signature | None = None
        self.reconcile_all = True  # the first tick after a start reconciles every client

    def tick(self, force: bool = False) -> list[Change]:
        """Poll once; never raises (errors are recorded with backoff).

        While the master's WebSocket is live, a tick reads REST only every RECONCILE_INTERVAL_SECONDS (the
        reconciler that repairs a lost push); `force` reads now (after a (re)connect).
        """
        now = time.time()
        if not force and now < self.status.next_attempt_at:
            return []
        feed = self.app.extensions.get("master_feed")
        if not force and feed is not None and feed.live and self.status.last_success_at is not None:
            if now - self.status.last_success_at < float(self.app.config.get("RECONCILE_INTERVAL_SECONDS", 10)):
                return []
        with self.app.app_context():
            try:
                return self._tick(now, wait=LOCK_WAIT_SECONDS if force else 0.0)
            except BusyError:
                return []  # another run holds the lock: the next tick looks again
            except (BitgetError, CopierError) as exc:
                self._failed(str(exc))
            except Exception as exc:  # a tick must never kill the scheduler
                log.exception("poll tick crashed")
                self._failed(f"internal error: {exc}")
            finally:
                db.session.remove()
        return []

    def _tick(self, detected_at: float, wait: float = 0.0) -> list[Change]:
        master = db.session.query(Account).filter_by(role="master", enabled=True).one_or_none()
        if master is None:
            self.status.last_success_at = time.time()
            return []
        service = self.app.extensions["replication"]
        with service.lock.hold("poll", "poller", wait=wait):
            sent_at = time.time()
            state = service.read_master(master)
            feed = self.app.extensions.get("master_feed")
            if feed is not None:
                feed.book.absorb_rest(state, sent_at)
            changes = self._observe(state)
            if not auto_follow_enabled(self.app):
                self.status.pending = False
                return changes
            self._follow(service, state, "poller", detected_at)
        return changes

    def follow_book(self, detected_at: float | None) -> list[Change]:
        """A run from the master's WebSocket book (a push changed size or TP/SL); never raises.

        The pushed positions are the fact acted on; an empty book after positions is confirmed by one REST
        read made while the clients are read, and no client acts on "flat" before it agrees (the last close
        arrives as `data: []`, and flat is the costliest thing to get wrong).
        """
        feed = self.app.extensions.get("master_feed")
        if feed is None:
            return []
        with self.app.app_context():
            try:
                master = db.session.query(Account).filter_by(role="master", enabled=True).one_or_none()
                if master is None:
                    return []
                service = self.app.extensions["replication"]
                with service.lock.hold("follow", "stream", wait=LOCK_WAIT_SECONDS):
                    state = feed.book.state()
                    if state is None:
                        return []
                    before = service.cache.get(master.id)
                    flat_check, check_sent = None, time.time()
                    if not state.positions and before is not None and before.positions:
                        flat_check = service.begin_flat_check(master)  # read while the clients are read
                    changes = self._observe(state, rest=False)
                    if auto_follow_enabled(self.app):
                        self._follow(service, state, "stream", detected_at, flat_check)
                    if flat_check is not None:
                        state = MasterState(equity=state.equity, positions=flat_check())  # raises: REST repairs
                        if state.positions:
                            log.warning("the master's empty push was not confirmed by REST: planning again")
                            feed.book.absorb_rest(state, check_sent)
                            feed.follower.follow(detected_at)
                    service.cache.record_success(master.id, positions=state.positions, equity=state.equity)
                    return changes
            except BusyError:
                feed.follower.follow(detected_at)  # a long run holds the lock: ask again, lose nothing
            except (BitgetError, CopierError) as exc:
                log.warning("run from the master's stream failed: %s", exc)
            except Exception:
                log.exception("run from the master's stream crashed")
            finally:
                db.session.remove()
        return []

    def _follow(self, service, state: MasterState, trigger: str, detected_at: float | None,
                flat_check=None) -> None:
        due = drifting_clients(self.app, state, everyone=self.reconcile_all)
        self.status.pending = bool(due)
        self.reconcile_all = False
        if due:
            report = service.replicate_locked("replicate", trigger, master=state, account_ids=due,
                                              detected_at=detected_at, flat_check=flat_check)
            from ..notify import notify_run

            notify_run(self.app, report)

    def _observe(self, state, rest: bool = True) -> list[Change]:
        sig = signature(state.positions)
        changes = detect_changes(self._last, sig)
        self._last = sig
        if rest:  # a REST read that worked (a push says nothing about REST's health)
            self.status.last_success_at, self.status.failures, self.status.next_attempt_at = time.time(), 0, 0.0
            self.status.last_error = None
        if changes:
            self.status.last_changes = [f"{c.kind} {c.symbol} {c.hold_side} ({c.detail})" for c in changes]
            log.info("master changed: %s", "; ".join(self.status.last_changes))
        return changes

    def _failed(self, message: str) -> None:
        status = self.status
        status.failures += 1
        status.last_error, status.last_error_at = message, time.time()
        interval = float(self.app.config["POLL_INTERVAL_SECONDS"])
        backoff = min(MAX_BACKOFF_SECONDS, interval * (2 ** min(status.failures - 1, 6)))
        status.next_attempt_at = time.time() + (backoff if status.failures > 1 else 0)
        log.warning("master poll failed (%d in a row, next try in %.0fs): %s", status.failures, backoff, message)


def drifting_clients(app: Flask, master: MasterState, *, everyone: bool = False) -> list[int]:
    """Enabled clients due for a reconcile: their cached plan has operations, or their state is unknown.

    A client in its failure backoff waits for its turn (or for the master to change); a plan of skips alone
    is not drift.
    """
    from ..engine.replication.health import master_signature
    from ..engine.replication.service import cached_client_state

    service = app.extensions["replication"]
    cache = service.cache.snapshot()  # every view at once (on the celery engine: one pipelined Redis read)
    contracts = app.extensions["gateway"].contracts()
    now_sig = master_signature(master.positions)
    accounts = db.session.query(Account).options(selectinload(Account.links)).filter_by(
        role="client", enabled=True).order_by(Account.id).all()
    due = []
    for account in accounts:
        if not service.health.due(account.id, now_sig):
            continue
        view = cache.get(account.id)
        since_run = service.cache_predates_reconcile(account.id, view.fetched_at if view else None)
        if not everyone and since_run is not None:
            # the cache is older than the client's last reconcile: it cannot judge drift. Nothing to do
            # while the master stays where it was then; reconcile as soon as the master moves
            if since_run != now_sig:
                due.append(account.id)
            continue
        state = cached_client_state(account, view, cache)
        if everyone or state is None:
            due.append(account.id)
            continue
        plan = plan_replication(master, [state], contracts)[0]
        if plan.operations:
            due.append(account.id)
    return due
