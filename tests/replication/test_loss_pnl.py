"""Loss protection arithmetic (pure): PnL from fills and unrealized PnL, never from raw equity."""
from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal as D

import pytest

from app.bitget.models import Fill, FillPage
from app.engine.replication import pnl
from app.engine.replication.loss import breached

DAY, DAY_MS = pnl.utc_day(datetime(2025, 3, 1, 12, 0, tzinfo=UTC))
NEXT_DAY, NEXT_DAY_MS = pnl.utc_day(datetime(2025, 3, 2, 0, 5, tzinfo=UTC))


def fill(trade_id: int, profit: str, fee: str = "0", c_time: int | None = None) -> Fill:
    return Fill(trade_id=str(trade_id), order_id="o", symbol="BTCUSDT", price=D("80000"), base_volume=D("0.1"),
                profit=D(profit), fee=D(fee), side="sell", trade_side="close",
                c_time=DAY_MS + trade_id if c_time is None else c_time)


def started(equity: str = "10000", unrealized: str = "0") -> pnl.PnlState:
    return pnl.start(D(equity), D(unrealized), DAY, fill(100, "0"))


def check(state: pnl.PnlState, unrealized: str, daily: str | None = None, drawdown: str | None = None) -> str | None:
    return breached(daily_limit=D(daily) if daily else None, drawdown_limit_pct=D(drawdown) if drawdown else None,
                    loss_today=pnl.daily_loss(state, D(unrealized)), peak=state.peak,
                    current=pnl.pnl_equity(state, D(unrealized)))


def test_utc_day_is_the_date_and_its_midnight() -> None:
    assert (DAY, DAY_MS) == ("2025-03-01", 1740787200000)
    assert NEXT_DAY_MS - DAY_MS == 24 * 3600 * 1000


def test_breached_daily_and_drawdown_thresholds() -> None:
    kw = {"peak": D("10000"), "current": D("10000")}
    assert breached(daily_limit=D("100"), drawdown_limit_pct=None, loss_today=D("99.99"), **kw) is None
    assert "daily loss 100.00 USDT" in breached(daily_limit=D("100"), drawdown_limit_pct=None,
                                                loss_today=D("100"), **kw)
    assert breached(daily_limit=D("0"), drawdown_limit_pct=None, loss_today=D("0"), **kw) is None  # no loss
    assert breached(daily_limit=D("100"), drawdown_limit_pct=None, loss_today=D("-500"), **kw) is None  # a gain
    reason = breached(daily_limit=None, drawdown_limit_pct=D("5"), loss_today=D("0"), peak=D("10000"),
                      current=D("9500"))
    assert reason and "drawdown 5.00% from peak 10000.00" in reason
    assert breached(daily_limit=None, drawdown_limit_pct=D("5"), loss_today=D("0"), peak=D("10000"),
                    current=D("9501")) is None
    assert breached(daily_limit=None, drawdown_limit_pct=D("5"), loss_today=D("0"), peak=D("0"),
                    current=D("-1")) is None  # no positive peak: no percentage


def test_daily_loss_is_realized_today_plus_the_change_of_unrealized() -> None:
    state = pnl.advance(started(unrealized="-20"), [fill(101, "-50", "-10")], D("-50"), DAY, DAY_MS)
    # realized -60, unrealized moved from -20 to -50: lost 90 today
    assert pnl.daily_loss(state, D("-50")) == D("90")
    assert check(state, "-50", daily="90") is not None and check(state, "-50", daily="91") is None


def test_deposits_and_withdrawals_are_not_pnl() -> None:
    # the copier never sees a transfer as a fill or as unrealized PnL: only the equity moves, which is not an input
    state = started("10000")
    assert pnl.pnl_equity(state, D("0")) == D("10000") and pnl.daily_loss(state, D("0")) == 0
    assert check(state, "0", daily="100", drawdown="5") is None  # after a withdrawal of 5000: nothing changed
    losing = pnl.advance(state, [fill(101, "-150", "-5")], D("0"), DAY, DAY_MS)
    assert check(losing, "0", daily="100") is not None  # after a deposit of 1000: the loss still counts


def test_pnl_equity_starts_at_the_equity_and_does_not_count_the_start_unrealized_twice() -> None:
    state = started("10000", unrealized="-300")  # equity 10000 already includes the -300
    assert pnl.pnl_equity(state, D("-300")) == D("10000")
    assert pnl.pnl_equity(state, D("-800")) == D("9500")
    closed = pnl.advance(state, [fill(101, "-800", "-4")], D("0"), DAY, DAY_MS)
    assert pnl.pnl_equity(closed, D("0")) == D("9496")


def test_drawdown_is_from_the_peak_of_the_pnl_curve() -> None:
    state = pnl.advance(started("10000"), [fill(101, "1000")], D("0"), DAY, DAY_MS)
    assert state.peak == D("11000")
    state = pnl.advance(state, [fill(102, "-500")], D("-100"), DAY, DAY_MS)
    assert state.peak == D("11000") and pnl.pnl_equity(state, D("-100")) == D("10400")
    assert pnl.drawdown_pct(state.peak, D("10400")) == D("600") / D("11000") * 100
    assert check(state, "-100", drawdown="5.4") is not None and check(state, "-100", drawdown="5.5") is None


def test_fills_are_counted_once_and_history_before_the_start_never() -> None:
    state = started()  # cursor at trade 100
    old_and_new = [fill(99, "-1000"), fill(100, "-1000"), fill(102, "-7", "-1"), fill(101, "3")]
    once = pnl.advance(state, old_and_new, D("0"), DAY, DAY_MS)
    assert (once.realized, once.day_realized, once.cursor_id) == (D("-5"), D("-5"), 102)
    assert once.cursor_ms == DAY_MS + 102
    again = pnl.advance(once, old_and_new, D("0"), DAY, DAY_MS)
    assert again == once


def test_a_new_day_opens_a_new_window_and_keeps_the_drawdown_curve() -> None:
    state = pnl.advance(started(), [fill(101, "-80")], D("-40"), DAY, DAY_MS)
    assert pnl.daily_loss(state, D("-40")) == D("120")
    late = fill(102, "-5", c_time=NEXT_DAY_MS - 1)  # yesterday's fill, read after midnight
    early = fill(103, "-7", c_time=NEXT_DAY_MS + 1)
    tomorrow = pnl.advance(state, [late, early], D("-60"), NEXT_DAY, NEXT_DAY_MS)
    assert (tomorrow.day, tomorrow.day_unrealized, tomorrow.day_realized) == (NEXT_DAY, D("-60"), D("-7"))
    assert pnl.daily_loss(tomorrow, D("-60")) == D("7")
    assert tomorrow.realized == D("-92") and pnl.pnl_equity(tomorrow, D("-60")) == D("9848")


def test_state_survives_its_text_form() -> None:
    state = pnl.advance(started("10000.12345678", "-1.5"), [fill(101, "-2.25", "-0.0006")], D("-3"), DAY, DAY_MS)
    assert pnl.PnlState.from_text(state.to_text()) == state
    empty = pnl.start(D("5"), D("0"), DAY, None)
    assert (empty.cursor_id, empty.cursor_ms) == (0, None)
    assert pnl.PnlState.from_text(empty.to_text()) == empty


class PagedFills:
    """A fills endpoint over a list (newest first pages), recording each call's arguments."""

    def __init__(self, fills: list[Fill]) -> None:
        self.rows = sorted(fills, key=lambda f: int(f.trade_id), reverse=True)
        self.calls: list[dict] = []

    def fills(self, **kw) -> FillPage:
        self.calls.append(kw)
        rows = [f for f in self.rows if (kw.get("start_time") is None or (f.c_time or 0) >= kw["start_time"])
                and (kw.get("id_less_than") is None or int(f.trade_id) < int(kw["id_less_than"]))]
        page = tuple(rows[:kw.get("limit", 100)])
        return FillPage(page, page[-1].trade_id if page else None)


def test_new_fills_costs_one_request_when_nothing_happened() -> None:
    exchange = PagedFills([fill(i, "0") for i in range(1, 101)])
    state = started()  # cursor at trade 100
    assert pnl.new_fills(exchange, state, now_ms=DAY_MS + 1000) == []
    assert exchange.calls == [{"start_time": DAY_MS + 100, "id_less_than": None, "limit": 100}]


def test_new_fills_pages_back_until_the_cursor() -> None:
    exchange = PagedFills([fill(i, "-1") for i in range(1, 351)])
    found = pnl.new_fills(exchange, started(), now_ms=DAY_MS + 1000)
    assert sorted(int(f.trade_id) for f in found) == list(range(101, 351))
    assert [c["id_less_than"] for c in exchange.calls] == [None, "251", "151"]


def test_new_fills_without_a_cursor_reads_everything_and_never_asks_beyond_the_window() -> None:
    exchange = PagedFills([fill(1, "-1")])
    assert len(pnl.new_fills(exchange, pnl.start(D("1"), D("0"), DAY, None))) == 1
    assert exchange.calls[0]["start_time"] is None
    stale = pnl.start(D("1"), D("0"), DAY, fill(5, "0", c_time=0))
    pnl.new_fills(exchange, stale, now_ms=DAY_MS)
    assert exchange.calls[-1]["start_time"] == DAY_MS - pnl.WINDOW_MS


@pytest.mark.parametrize("text", ["", "{not json", '{"start_equity": "1"}'])
def test_unreadable_state_restarts_tracking(text: str, monkeypatch) -> None:
    monkeypatch.setattr(pnl, "get_setting", lambda key: text)
    assert pnl.load(1) is None
