"""Performance arithmetic (pure): realized from fills, unrealized, return % over a window, tracking error."""
from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal as D

from app.bitget.models import Fill
from app.engine.replication import performance as perf
from app.engine.replication.pnl import FillReader

DAY = 24 * 3600 * 1000
NOON = int(datetime(2025, 3, 10, 12, 0, tzinfo=UTC).timestamp() * 1000)  # "now" in these tests
MIDNIGHT = NOON - 12 * 3600 * 1000


def fill(trade_id: int, profit: str, fee: str = "0", c_time: int = NOON) -> Fill:
    return Fill(trade_id=str(trade_id), order_id="o", symbol="BTCUSDT", price=D("80000"), base_volume=D("0.1"),
                profit=D(profit), fee=D(fee), side="sell", trade_side="close", c_time=c_time)


def test_windows_count_each_fills_profit_plus_fee_and_the_change_of_unrealized():
    since = MIDNIGHT - 10 * DAY  # followed for ten days; tracking starts now (an existing install)
    fills = [fill(1, "100", "-2", since - 1),  # before following: never counted
             fill(2, "50", "-1", MIDNIGHT - 9 * DAY),  # older than 7 d
             fill(3, "-30", "-1", MIDNIGHT - 3 * DAY),  # inside 7 d
             fill(4, "20", "-0.5", MIDNIGHT + 3600_000)]  # today
    state = perf.begin(since, fills, D("10000"), D("40"), NOON)
    assert state.realized == D("49") - D("31") + D("19.5")  # 37.5, fill 1 left out
    assert (state.cursor_id, state.cursor_ms) == (4, MIDNIGHT + 3600_000)
    later = NOON + 3600_000
    state = perf.advance(state, [fill(5, "-10", "-0.5", later)], D("10029.5"), D("70"), later)
    today = perf.measure(state, perf.window_start("today", later, since), D("10029.5"), D("70"))
    # realized today 19.5 - 10.5 = 9; unrealized +70 now against +40 at the first checkpoint
    assert today.realized == D("9") and today.pnl == D("39")
    # equity at 00:00: the checkpoint's 10000 less today's fills before it (19.5)
    assert today.base_equity == D("9980.5") and today.return_pct == D("0.39")
    week = perf.measure(state, perf.window_start("7d", later, since), D("10029.5"), D("70"))
    # equity at 00:00 six days ago: the checkpoint less the fills since (-31 + 19.5)
    assert week.realized == D("-22") and week.base_equity == D("10011.5")
    everything = perf.measure(state, perf.window_start("all", later, since), D("10029.5"), D("70"))
    assert everything.realized == D("27") and everything.base_equity == D("10000") - D("37.5")


def test_the_tracking_error_is_the_gap_to_the_masters_return_over_the_same_window():
    since = MIDNIGHT + 3600_000  # the client follows since 01:00 today, the master for longer
    master = perf.begin(MIDNIGHT - 5 * DAY, [], D("20000"), D("0"), MIDNIGHT - 5 * DAY)
    master = perf.advance(master, [fill(7, "400", "-4", since + 60_000)], D("20396"), D("0"), NOON)
    client = perf.begin(since, [], D("5000"), D("0"), since, master_first=perf.Checkpoint(since, D("0"), D("20000"), D("0")))
    client = perf.advance(client, [fill(8, "80", "-2", since + 61_000)], D("5078"), D("10"), NOON)
    windows = perf.client_windows(client, view(D("5078"), "10"), master, view(D("20396"), "0"), NOON)
    assert windows["today"]["start"].startswith("2025-03-10T01:00")  # not before following began
    assert windows["today"]["return_pct"] == "1.76"  # (78 + 10) / 5000
    assert windows["today"]["master_return_pct"] == "1.98"  # 396 / 20000 since 01:00
    assert windows["today"]["tracking_error_pp"] == "-0.22"
    assert windows["all"]["tracking_error_pp"] == "-0.22"


def test_state_round_trips_and_old_days_fold_into_one_sum():
    state = perf.begin(MIDNIGHT - 30 * DAY, [fill(1, "5", c_time=MIDNIGHT - 20 * DAY), fill(2, "7")], D("100"), D("0"), NOON)
    assert state.older == D("5") and set(state.days) == {"2025-03-10"}
    assert perf.PerfState.from_text(state.to_text()) == state


def test_the_fills_read_once_serve_the_second_tracker():
    class Exchange:
        calls = 0

        def fills(self, **kw):
            from app.bitget.models import FillPage
            Exchange.calls += 1
            return FillPage(fills=(fill(12, "1"), fill(11, "1")), end_id="11")

    reader = FillReader(Exchange())
    loss_cursor = perf._Start(cursor_ms=NOON - DAY, cursor_id=10)
    assert [f.trade_id for f in reader.new_fills(loss_cursor)] == ["12", "11"]
    assert [f.trade_id for f in reader.new_fills(perf._Start(cursor_ms=NOON - DAY, cursor_id=11))] == ["12"]
    assert [f.trade_id for f in reader.new_fills(perf._Start(cursor_ms=NOON - 3600_000, cursor_id=0))] == ["12", "11"]
    assert Exchange.calls == 1


def view(equity: D, unrealized: str):
    from app.bitget.models import Position

    class View:
        pass

    v = View()
    v.equity = equity
    v.positions = (Position.from_wire({"symbol": "BTCUSDT", "holdSide": "long", "total": "0.1",
                                       "unrealizedPL": unrealized}),) if unrealized != "0" else ()
    return v
