"""Per-account performance over a window, from fills: realized PnL (profit + fees), unrealized PnL, return %,
and the gap between a client's return and the master's ("tracking error").

The background refresh keeps one Setting row per account ("perf.<id>", JSON), updated from the fills it reads
anyway (one read shared with loss protection, see pnl.FillReader); a page view only computes from these rows
and the state cache, it never calls the exchange.

Definitions (USDT, UTC):
- the PnL curve P(t) = realized(t) + unrealized(t): realized counts every fill (profit plus its signed fee)
  since the account is followed (Account.following_since); unrealized is the open positions' uPnL at t.
  Deposits, withdrawals and transfers are neither, so they never move P; funding fees are not fills.
- windows: "today" from 00:00 UTC, "7d" from 00:00 UTC six days ago, "all" since following; no window starts
  before following began.
- PnL over a window = P(now) - P(start) = realized of the window's fills + unrealized now - unrealized at its
  start; return % = that PnL / the equity at the window's start x 100.
- tracking error = the client's return % - the master's return % over the same window (percentage points).
The equity and unrealized PnL at a window's start come from the account's first checkpoint at or after it (one
per UTC day: the first refresh of the day; and one when tracking starts), the equity corrected by the
realized PnL of the fills between the window's start and that checkpoint. When tracking starts after
following began (accounts followed before this was tracked), the fills since following are read once and
counted; the equity at the start is then today's equity minus their realized PnL.
"""
from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from ...bitget.errors import BitgetError
from ...store.extensions import db
from ...store.models import Account, Setting, get_setting, set_setting
from .pnl import FillReader, trade_number

if TYPE_CHECKING:
    from ...bitget.models import Fill, Position

log = logging.getLogger(__name__)
ZERO = Decimal(0)
WINDOWS = ("today", "7d", "all")
KEEP_DAYS = 8  # day buckets and daily checkpoints kept per client (the 7-day window needs seven)
MASTER_KEEP_DAYS = 400  # the master keeps its daily checkpoints longer: a client's "since following" may be old
FRESH_FOLLOW_MS = 10 * 60 * 1000  # a client tracked this soon after following began records the master's curve
DAY_MS = 24 * 3600 * 1000
KEY = "perf."
_locks: dict[int, threading.Lock] = {}
_locks_guard = threading.Lock()


@dataclass(frozen=True)
class Checkpoint:
    """One point of an account's PnL curve: cumulative realized, equity and unrealized PnL at `ms`."""

    ms: int
    realized: Decimal
    equity: Decimal
    unrealized: Decimal

    def to_list(self) -> list[Any]:
        return [self.ms, format(self.realized, "f"), format(self.equity, "f"), format(self.unrealized, "f")]

    @classmethod
    def from_list(cls, row: Sequence[Any]) -> Checkpoint:
        return cls(int(row[0]), Decimal(row[1]), Decimal(row[2]), Decimal(row[3]))


@dataclass(frozen=True)
class PerfState:
    """What the refresh keeps per account."""

    since_ms: int  # following_since when tracking began: fills before it are not counted
    first: Checkpoint  # when tracking began
    cursor_id: int = 0  # newest tradeId seen
    cursor_ms: int | None = None  # its cTime (the next read starts there)
    realized: Decimal = ZERO  # every counted fill since since_ms
    older: Decimal = ZERO  # realized of the days no longer kept one by one
    days: Mapping[str, Decimal] = field(default_factory=dict)  # UTC day -> realized of that day's fills
    checkpoints: Mapping[str, Checkpoint] = field(default_factory=dict)  # UTC day -> first checkpoint that day
    master_first: Checkpoint | None = None  # the master's curve when this client's following began

    def to_text(self) -> str:
        return json.dumps({
            "since_ms": self.since_ms, "first": self.first.to_list(), "cursor_id": self.cursor_id,
            "cursor_ms": self.cursor_ms, "realized": format(self.realized, "f"), "older": format(self.older, "f"),
            "days": {d: format(v, "f") for d, v in self.days.items()},
            "checkpoints": {d: c.to_list() for d, c in self.checkpoints.items()},
            "master_first": self.master_first.to_list() if self.master_first else None,
        }, separators=(",", ":"))

    @classmethod
    def from_text(cls, text: str) -> PerfState:
        data = json.loads(text)
        return cls(
            since_ms=int(data["since_ms"]), first=Checkpoint.from_list(data["first"]),
            cursor_id=int(data["cursor_id"]), cursor_ms=data["cursor_ms"], realized=Decimal(data["realized"]),
            older=Decimal(data["older"]), days={d: Decimal(v) for d, v in data["days"].items()},
            checkpoints={d: Checkpoint.from_list(c) for d, c in data["checkpoints"].items()},
            master_first=Checkpoint.from_list(data["master_first"]) if data.get("master_first") else None,
        )


@dataclass(frozen=True)
class Measure:
    """One account over one window."""

    start_ms: int
    realized: Decimal
    unrealized: Decimal  # now
    pnl: Decimal  # realized + change of unrealized since the start
    base_equity: Decimal
    return_pct: Decimal | None


# ----- pure arithmetic --------------------------------------------------------------------------------------
def day_of(ms: int) -> str:
    """The UTC date of a millisecond time."""
    return datetime.fromtimestamp(ms / 1000, UTC).date().isoformat()


def midnight_ms(ms: int) -> int:
    """00:00 UTC of the day of `ms`."""
    return ms - ms % DAY_MS


def unrealized_of(positions: Iterable[Position]) -> Decimal:
    """The open positions' unrealized PnL."""
    return sum((p.unrealized_pl for p in positions), start=ZERO)


def _counted(state: PerfState, fills: Iterable[Fill], now_ms: int) -> PerfState:
    cursor_id, cursor_ms, realized = state.cursor_id, state.cursor_ms, state.realized
    days = dict(state.days)
    for fill in sorted(fills, key=trade_number):
        trade_id = trade_number(fill)
        if trade_id <= cursor_id:
            continue
        cursor_id = trade_id
        if fill.c_time is not None:
            cursor_ms = max(cursor_ms or 0, fill.c_time)
            if fill.c_time < state.since_ms:
                continue  # before following began: not this account's record
        realized += fill.realized
        day = day_of(fill.c_time if fill.c_time is not None else now_ms)
        days[day] = days.get(day, ZERO) + fill.realized
    return replace(state, cursor_id=cursor_id, cursor_ms=cursor_ms, realized=realized, days=days)


def _pruned(state: PerfState, now_ms: int, keep_days: int) -> PerfState:
    """Fold day buckets older than KEEP_DAYS into `older`; drop checkpoints older than keep_days."""
    cutoff = day_of(now_ms - (KEEP_DAYS - 1) * DAY_MS)
    days = {d: v for d, v in state.days.items() if d >= cutoff}
    older = state.older + sum((v for d, v in state.days.items() if d < cutoff), start=ZERO)
    cp_cutoff = day_of(now_ms - (keep_days - 1) * DAY_MS)
    checkpoints = {d: c for d, c in state.checkpoints.items() if d >= cp_cutoff}
    return replace(state, days=days, older=older, checkpoints=checkpoints)


def begin(since_ms: int, fills: Iterable[Fill], equity: Decimal, unrealized: Decimal, now_ms: int,
          master_first: Checkpoint | None = None, keep_days: int = KEEP_DAYS) -> PerfState:
    """Tracking from now, counting the given fills (those since following began) (pure)."""
    state = PerfState(since_ms=since_ms, first=Checkpoint(now_ms, ZERO, equity, unrealized),
                      cursor_ms=since_ms, master_first=master_first)
    state = _counted(state, fills, now_ms)
    first = Checkpoint(now_ms, state.realized, equity, unrealized)
    return _pruned(replace(state, first=first, checkpoints={day_of(now_ms): first}), now_ms, keep_days)


def advance(state: PerfState, fills: Iterable[Fill], equity: Decimal, unrealized: Decimal, now_ms: int,
            keep_days: int = KEEP_DAYS) -> PerfState:
    """Count new fills; the first refresh of a UTC day records that day's checkpoint (pure)."""
    state = _counted(state, fills, now_ms)
    today = day_of(now_ms)
    if today not in state.checkpoints:
        state = replace(state, checkpoints={**state.checkpoints,
                                            today: Checkpoint(now_ms, state.realized, equity, unrealized)})
    return _pruned(state, now_ms, keep_days)


def window_start(name: str, now_ms: int, since_ms: int) -> int:
    """When a window starts (never before following began)."""
    if name == "today":
        start = midnight_ms(now_ms)
    elif name == "7d":
        start = midnight_ms(now_ms) - 6 * DAY_MS
    else:
        start = since_ms
    return max(start, since_ms)


def checkpoint_at(state: PerfState, ms: int) -> Checkpoint:
    """The first checkpoint at or after `ms` (else the last one before it)."""
    points = [state.first, *state.checkpoints.values()]
    after = [c for c in points if c.ms >= ms]
    return min(after, key=lambda c: c.ms) if after else max(points, key=lambda c: c.ms)


def measure(state: PerfState, start_ms: int, equity_now: Decimal | None, unrealized_now: Decimal,
            at_start: Checkpoint | None = None) -> Measure:
    """PnL and return of one account from `start_ms` to now (pure)."""
    start_ms = max(start_ms, state.since_ms)
    point = at_start or checkpoint_at(state, start_ms)
    if start_ms == state.since_ms:
        realized = state.realized
    elif start_ms == midnight_ms(start_ms):
        first_day = day_of(start_ms)
        realized = sum((v for d, v in state.days.items() if d >= first_day), start=ZERO)
    else:  # a start inside a day (another account's following start): from the checkpoint on
        realized = state.realized - point.realized
    before = state.realized - realized
    base = point.equity - (point.realized - before)
    pnl = realized + unrealized_now - point.unrealized
    pct = (pnl / base * 100).quantize(Decimal("0.01")) if base > 0 else None
    return Measure(start_ms, realized, unrealized_now, pnl, base, pct)


def gap(client_pct: Decimal | None, master_pct: Decimal | None) -> Decimal | None:
    """Tracking error in percentage points (None when either return is unknown)."""
    if client_pct is None or master_pct is None:
        return None
    return client_pct - master_pct


# ----- persistence ------------------------------------------------------------------------------------------
def state_key(account_id: int) -> str:
    return f"{KEY}{account_id}"


def load(account_id: int) -> PerfState | None:
    """The persisted state (None before tracking starts)."""
    return _parse(account_id, get_setting(state_key(account_id)))


def _parse(account_id: int, text: str | None) -> PerfState | None:
    if not text:
        return None
    try:
        return PerfState.from_text(text)
    except (ValueError, TypeError, KeyError, IndexError, ArithmeticError):
        log.warning("performance state of account %s is unreadable; tracking restarts", account_id)
        return None


def load_all() -> dict[int, PerfState]:
    """Every account's state in one query (page views)."""
    out: dict[int, PerfState] = {}
    for row in db.session.query(Setting).filter(Setting.key.like(f"{KEY}%")).all():
        suffix = row.key[len(KEY):]
        if suffix.isdigit() and (state := _parse(int(suffix), row.value)) is not None:
            out[int(suffix)] = state
    return out


# ----- the refresh's part -----------------------------------------------------------------------------------
def track(app, account_id: int, reader: FillReader, equity: Decimal, positions: Sequence[Position],
          now_ms: int | None = None) -> PerfState | None:
    """Count one account's new fills (read through `reader`, shared with loss protection) and persist.

    Returns the new state, or None when the account is gone or the fills could not be read. Two refreshes
    of one account (the paced one and the one after an action) take turns.
    """
    with _locks_guard:
        lock = _locks.setdefault(account_id, threading.Lock())
    with lock:
        return _track(app, account_id, reader, equity, positions, now_ms)


def _track(app, account_id: int, reader: FillReader, equity: Decimal, positions: Sequence[Position],
           now_ms: int | None) -> PerfState | None:
    now_ms = now_ms if now_ms is not None else int(time.time() * 1000)
    unrealized = unrealized_of(positions)
    with app.app_context():
        account = db.session.get(Account, account_id)
        if account is None:
            return None
        since_ms = int(account.following_since.timestamp() * 1000)
        is_master = account.is_master
        before = load(account_id)
        if before is not None and before.since_ms != since_ms:
            before = None  # following restarted (re-enabled): so does the record
        master_first = None
        if before is None and not is_master and now_ms - since_ms <= FRESH_FOLLOW_MS:
            master_first = master_checkpoint(app, now_ms)
    keep = MASTER_KEEP_DAYS if is_master else KEEP_DAYS
    try:
        if before is None:
            state = begin(since_ms, reader.new_fills(_Start(since_ms)), equity, unrealized, now_ms, master_first, keep)
        else:
            state = advance(before, reader.new_fills(before), equity, unrealized, now_ms, keep)
    except BitgetError as exc:
        log.info("performance: cannot read the fills of account %s: %s", account_id, exc)
        return None
    if state != before:
        with app.app_context():
            set_setting(state_key(account_id), state.to_text())
    return state


@dataclass(frozen=True)
class _Start:
    """The cursor of a tracking that starts: every fill since following began."""

    cursor_ms: int
    cursor_id: int = 0


def master_checkpoint(app, now_ms: int) -> Checkpoint | None:
    """The master's PnL curve now (its counted fills and the cached equity and positions), or None."""
    master = db.session.query(Account).filter_by(role="master").one_or_none()
    if master is None:
        return None
    state = load(master.id)
    view = app.extensions["state"].get(master.id)
    if state is None or view is None or view.equity is None:
        return None
    return Checkpoint(now_ms, state.realized, view.equity, unrealized_of(view.positions))


# ----- the page's part --------------------------------------------------------------------------------------
def _num(value: Decimal | None, places: str = "0.0001") -> str | None:
    return None if value is None else format(value.quantize(Decimal(places)), "f")


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).replace(microsecond=0).isoformat()


def measure_dict(m: Measure) -> dict[str, Any]:
    return {"start": _iso(m.start_ms), "realized": _num(m.realized), "unrealized": _num(m.unrealized),
            "pnl": _num(m.pnl), "base_equity": _num(m.base_equity, "0.01"),
            "return_pct": _num(m.return_pct, "0.01")}


def current(view) -> tuple[Decimal | None, Decimal]:
    """Equity and unrealized PnL now, from a cached view."""
    if view is None:
        return None, ZERO
    return view.equity, unrealized_of(view.positions)


def master_windows(state: PerfState | None, view, now_ms: int) -> dict[str, Any] | None:
    """The master's own windows for the master panel."""
    if state is None:
        return None
    equity, unrealized = current(view)
    return {name: measure_dict(measure(state, window_start(name, now_ms, state.since_ms), equity, unrealized))
            for name in WINDOWS}


def client_windows(state: PerfState | None, view, master: PerfState | None, master_view,
                   now_ms: int) -> dict[str, Any] | None:
    """A client's windows, each with the master's return over the same span and the gap between them."""
    if state is None:
        return None
    equity, unrealized = current(view)
    m_equity, m_unrealized = current(master_view)
    out: dict[str, Any] = {}
    for name in WINDOWS:
        mine = measure(state, window_start(name, now_ms, state.since_ms), equity, unrealized)
        body = measure_dict(mine)
        master_pct = None
        if master is not None:
            at_start = state.master_first if mine.start_ms == state.since_ms else None
            if at_start is not None and at_start.ms < master.since_ms:
                at_start = None
            master_pct = measure(master, mine.start_ms, m_equity, m_unrealized, at_start).return_pct
        body["master_return_pct"] = _num(master_pct, "0.01")
        body["tracking_error_pp"] = _num(gap(mine.return_pct, master_pct), "0.01")
        out[name] = body
    return out


def totals(clients: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Per window: the clients' realized and PnL summed, and that PnL over their summed starting equity."""
    out: dict[str, Any] = {}
    for name in WINDOWS:
        rows = [c["pnl"][name] for c in clients if c.get("pnl")]
        realized = sum((Decimal(r["realized"]) for r in rows), start=ZERO)
        pnl = sum((Decimal(r["pnl"]) for r in rows), start=ZERO)
        based = [r for r in rows if Decimal(r["base_equity"]) > 0]
        base = sum((Decimal(r["base_equity"]) for r in based), start=ZERO)
        based_pnl = sum((Decimal(r["pnl"]) for r in based), start=ZERO)
        out[name] = {"realized": _num(realized), "pnl": _num(pnl),
                     "return_pct": _num(based_pnl / base * 100, "0.01") if base > 0 else None}
    return out


def current_ms() -> int:
    """Milliseconds now."""
    return int(datetime.now(UTC).timestamp() * 1000)

