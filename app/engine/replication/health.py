"""Per-client health: its own retry backoff after a failure, and notifications per problem, not per run.

Like a controller's work queue, a client that fails is retried on its own schedule (2 s, 4 s, ... capped at
5 minutes), reset when it succeeds or when the master's positions change, instead of re-running every
client on every poll. Each problem is announced once when it starts, reminded at most hourly while it
lasts, and closed with one "recovered".
"""
from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from ...bitget.models import Position

BACKOFF_START_SECONDS = 2.0
BACKOFF_CAP_SECONDS = 300.0
REMINDER_SECONDS = 3600.0

MasterSignature = tuple[tuple[str, str, Decimal, Decimal | None, Decimal | None], ...]


def master_signature(positions: Iterable[Position]) -> MasterSignature:
    """What a change of the master means for retries: sizes and TP/SL per (symbol, side)."""
    return tuple(sorted((p.symbol, p.hold_side, p.total, p.take_profit, p.stop_loss) for p in positions if p.total > 0))


@dataclass
class Trouble:
    """One client's current failure streak."""

    name: str
    since: float
    failures: int
    message: str
    next_attempt_at: float
    notified_at: float
    master: MasterSignature
    streak: int = 0  # failures since the master last changed (sets the backoff)


@dataclass(frozen=True)
class HealthEvent:
    """Something to tell the operator: a client started failing, still fails, or recovered."""

    kind: str  # failing | still_failing | recovered
    account_id: int
    name: str
    message: str
    failures: int = 0


@dataclass
class ClientHealth:
    """Thread-safe failure streaks by account id."""

    backoff_start: float = BACKOFF_START_SECONDS
    backoff_cap: float = BACKOFF_CAP_SECONDS
    reminder: float = REMINDER_SECONDS
    _troubles: dict[int, Trouble] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def due(self, account_id: int, master: MasterSignature, now: float | None = None) -> bool:
        """True when the client may be reconciled now (no streak, its backoff passed, or the master changed)."""
        with self._lock:
            trouble = self._troubles.get(account_id)
            if trouble is None:
                return True
            if trouble.master != master:
                trouble.next_attempt_at = 0.0  # the master moved: what failed may work now
            return (now or time.time()) >= trouble.next_attempt_at

    def failing(self) -> dict[int, Trouble]:
        """The current streaks (a copy)."""
        with self._lock:
            return dict(self._troubles)

    def record(self, outcomes: Sequence, master: MasterSignature, now: float | None = None) -> list[HealthEvent]:
        """Update the streaks from a run's outcomes; returns what should be announced."""
        now = now or time.time()
        events = []
        with self._lock:
            for outcome in outcomes:
                if outcome.account_id is None:
                    continue
                if outcome.status == "failed":
                    events += self._failed(outcome, master, now)
                elif outcome.account_id in self._troubles:
                    trouble = self._troubles.pop(outcome.account_id)
                    events.append(HealthEvent("recovered", outcome.account_id, outcome.account_name,
                                              f"works again after {trouble.failures} failed attempt(s)",
                                              trouble.failures))
        return events

    def _failed(self, outcome, master: MasterSignature, now: float) -> list[HealthEvent]:
        trouble = self._troubles.get(outcome.account_id)
        first = trouble is None
        if trouble is None:
            trouble = Trouble(outcome.account_name, now, 0, outcome.message, 0.0, now, master)
        streak = 1 if trouble.master != master else trouble.streak + 1  # the master moved: backoff restarts
        trouble.failures += 1
        trouble.streak, trouble.master, trouble.message = streak, master, outcome.message
        delay = min(self.backoff_cap, self.backoff_start * 2 ** (streak - 1))
        trouble.next_attempt_at = now + delay
        self._troubles[outcome.account_id] = trouble
        if first:
            return [HealthEvent("failing", outcome.account_id, outcome.account_name, outcome.message, 1)]
        if now - trouble.notified_at >= self.reminder:
            trouble.notified_at = now
            return [HealthEvent("still_failing", outcome.account_id, outcome.account_name, outcome.message,
                                trouble.failures)]
        return []

    def forget(self, account_id: int) -> None:
        """A deleted or disabled account is never announced as recovered."""
        with self._lock:
            self._troubles.pop(account_id, None)
