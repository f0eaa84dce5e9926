"""PnL tracking for loss protection: realized PnL from fills (read incrementally) plus unrealized PnL.

Deposits and withdrawals change the balance but are neither fills nor unrealized PnL, so they never move
these numbers. Per account one Setting row holds the tracking state as JSON (restarts keep it):
- the equity and unrealized PnL when tracking started (or was reset), the realized PnL of every fill since,
  and the peak of the PnL-equity curve (start equity + realized since + unrealized now - unrealized at start);
- the UTC day, the unrealized PnL when that day's window began (the first check of the day, or the tracking
  start) and the realized PnL of that day's fills;
- the cursor: the newest tradeId counted and its cTime, so a check reads only newer fills (one request when
  nothing happened). Funding fees are not fills and are not counted.
"""
from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Protocol

from ...store.models import get_setting, set_setting

if TYPE_CHECKING:
    from ...bitget.client import BitgetClient
    from ...bitget.models import Fill

log = logging.getLogger(__name__)
ZERO = Decimal(0)
PAGE = 100
MAX_PAGES = 20  # 2000 new fills between two checks at most; more are logged and skipped
WINDOW_MS = 89 * 24 * 3600 * 1000  # Bitget's fills window is 3 months: never ask for more
_DECIMALS = ("start_equity", "start_unrealized", "realized", "peak", "day_unrealized", "day_realized")


@dataclass(frozen=True)
class PnlState:
    """What loss protection remembers per account (amounts in USDT)."""

    start_equity: Decimal
    start_unrealized: Decimal
    realized: Decimal
    peak: Decimal
    day: str
    day_unrealized: Decimal
    day_realized: Decimal
    cursor_id: int = 0  # newest tradeId counted; 0 before the first fill
    cursor_ms: int | None = None  # its cTime

    def to_text(self) -> str:
        """JSON with Decimals as plain strings."""
        data = asdict(self)
        for name in _DECIMALS:
            data[name] = format(data[name], "f")
        return json.dumps(data, separators=(",", ":"))

    @classmethod
    def from_text(cls, text: str) -> PnlState:
        """Parse what to_text wrote."""
        data = json.loads(text)
        for name in _DECIMALS:
            data[name] = Decimal(data[name])
        return cls(**data)


def trade_number(fill: Fill) -> int:
    """The tradeId as a number (ids grow with time); 0 for a malformed one, which is then never counted."""
    return int(fill.trade_id) if fill.trade_id.isdigit() else 0


def utc_day(now: datetime | None = None) -> tuple[str, int]:
    """Today's UTC date and its 00:00 UTC in milliseconds."""
    now = now or datetime.now(UTC)
    midnight = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return midnight.date().isoformat(), int(midnight.timestamp() * 1000)


def start(equity: Decimal, unrealized: Decimal, day: str, newest: Fill | None) -> PnlState:
    """Tracking from now: the curve starts at this equity; fills up to `newest` are history (pure)."""
    return PnlState(start_equity=equity, start_unrealized=unrealized, realized=ZERO, peak=equity, day=day,
                    day_unrealized=unrealized, day_realized=ZERO,
                    cursor_id=trade_number(newest) if newest else 0, cursor_ms=newest.c_time if newest else None)


def advance(state: PnlState, fills: Iterable[Fill], unrealized: Decimal, day: str, day_start_ms: int) -> PnlState:
    """Count fills newer than the cursor, open a new day's window, raise the peak (pure)."""
    if state.day != day:
        state = replace(state, day=day, day_unrealized=unrealized, day_realized=ZERO)
    realized, day_realized = state.realized, state.day_realized
    cursor_id, cursor_ms = state.cursor_id, state.cursor_ms
    for fill in sorted(fills, key=trade_number):
        trade_id = trade_number(fill)
        if trade_id <= cursor_id:
            continue
        realized += fill.realized
        if fill.c_time is None or fill.c_time >= day_start_ms:
            day_realized += fill.realized
        cursor_id = trade_id
        if fill.c_time is not None:
            cursor_ms = max(cursor_ms or 0, fill.c_time)
    state = replace(state, realized=realized, day_realized=day_realized, cursor_id=cursor_id, cursor_ms=cursor_ms)
    return replace(state, peak=max(state.peak, pnl_equity(state, unrealized)))


def pnl_equity(state: PnlState, unrealized: Decimal) -> Decimal:
    """Equity as PnL alone moved it: start equity + realized since + change of unrealized since (pure)."""
    return state.start_equity + state.realized + unrealized - state.start_unrealized


def daily_loss(state: PnlState, unrealized: Decimal) -> Decimal:
    """Today's loss (negative = gain): -(realized today + unrealized now - unrealized at the day's start)."""
    return -(state.day_realized + unrealized - state.day_unrealized)


def drawdown_pct(peak: Decimal, current: Decimal) -> Decimal:
    """(peak - current) / peak in percent; 0 without a positive peak (pure)."""
    if peak <= 0:
        return ZERO
    return (peak - current) / peak * 100


def newest_fill(client: BitgetClient) -> Fill | None:
    """The account's most recent fill (one request), or None."""
    page = client.fills(limit=1)
    return page.fills[0] if page.fills else None


class FillCursor(Protocol):
    """Where a tracker's counting stands: the newest tradeId counted and the time to read from."""

    cursor_id: int
    cursor_ms: int | None


def new_fills(client: BitgetClient, state: FillCursor, now_ms: int | None = None) -> list[Fill]:
    """Fills newer than the cursor, newest first, paging back with idLessThan until the cursor is reached."""
    now_ms = now_ms if now_ms is not None else int(time.time() * 1000)
    since = max(state.cursor_ms, now_ms - WINDOW_MS) if state.cursor_ms is not None else None
    found: list[Fill] = []
    cursor: str | None = None
    for _ in range(MAX_PAGES):
        page = client.fills(start_time=since, id_less_than=cursor, limit=PAGE)
        fresh = [f for f in page.fills if trade_number(f) > state.cursor_id]
        found.extend(fresh)
        if len(fresh) < len(page.fills) or len(page.fills) < PAGE or not page.end_id:
            return found
        cursor = page.end_id
    log.warning("more than %d new fills since the last check; older ones are not counted", PAGE * MAX_PAGES)
    return found


class FillReader:
    """One account's new fills for one refresh, read once and shared by every tracker that counts them
    (loss protection, performance): a later tracker whose cursor is at or past an earlier read's start gets
    its fills from that read, filtered to its own cursor, without a request of its own."""

    def __init__(self, client: BitgetClient) -> None:
        self.client = client
        self._reads: list[tuple[int, int | None, list[Fill]]] = []

    def new_fills(self, cursor: FillCursor) -> list[Fill]:
        """Fills newer than `cursor` (see new_fills), from an earlier read of this refresh when it covers them."""
        since = cursor.cursor_ms
        for read_id, read_since, fills in self._reads:
            if self._covers(read_id, read_since, cursor.cursor_id, since):
                return [f for f in fills if trade_number(f) > cursor.cursor_id
                        and (since is None or f.c_time is None or f.c_time >= since)]
        fills = new_fills(self.client, cursor)
        self._reads.append((cursor.cursor_id, since, fills))
        return fills

    @staticmethod
    def _covers(read_id: int, read_since: int | None, cursor_id: int, since: int | None) -> bool:
        """Whether a read of every fill newer than (read_id, read_since) holds every fill newer than the cursor.

        A read's cursor time is its cursor fill's cTime (or, with no fill yet, a start time), and tradeIds grow
        with time, so a read from an earlier time also holds every fill after a later time.
        """
        if read_id <= cursor_id and (read_since is None or (since is not None and read_since <= since)):
            return True
        return read_since is not None and since is not None and read_since < since


def state_key(account_id: int) -> str:
    """The Setting key of one account's tracking state."""
    return f"loss.pnl.{account_id}"


def load(account_id: int) -> PnlState | None:
    """The persisted state (None before tracking starts or after a reset)."""
    text = get_setting(state_key(account_id))
    if not text:
        return None
    try:
        return PnlState.from_text(text)
    except (ValueError, TypeError, KeyError, ArithmeticError):
        log.warning("loss tracking state of account %s is unreadable; tracking restarts", account_id)
        return None


def save(account_id: int, state: PnlState | None) -> None:
    """Persist (None: forget, so the next check starts tracking afresh)."""
    set_setting(state_key(account_id), state.to_text() if state is not None else "")
