"""The private WebSocket's pure parts: push parsers against the reference fixtures, the login message against
the signature vector, the master's book (positions + TP/SL plans + equity), the coalescing follower and the
status line the dashboard shows."""
from __future__ import annotations

import json
import threading
import time
from decimal import Decimal

from app.bitget.models import Position
from app.bitget.stream import (
    Push,
    login_message,
    parse_equity,
    parse_order,
    parse_plan,
    parse_position,
    subscribe_message,
)
from app.engine.replication.state import MasterState
from app.feeds.master_feed import FeedStatus, Follower, MasterBook, stream_url
from tests.bitget.conftest import FIXTURES, load


def push(name: str, received_at: float = 1.0) -> Push:
    message = load(name)
    return Push(channel=message["arg"]["channel"], action=message["action"], data=tuple(message["data"]),
                ts=message["ts"], received_at=received_at)


def test_positions_push_parses_field_for_field():
    row = load("ws_positions_push")["data"][0]
    assert isinstance(row["leverage"], int)  # a number on the stream, a string on REST
    pos = parse_position(row)
    assert pos.symbol == "BTCUSDT" and pos.hold_side == "long" and pos.margin_coin == "USDT"
    assert pos.total == Decimal("0.017") and pos.available == Decimal("0.017")
    assert pos.locked == Decimal("0")  # REST calls it locked, the stream frozen
    assert pos.open_price_avg == Decimal("84701") and pos.leverage == 10
    assert pos.margin_mode == "isolated" and pos.pos_mode == "hedge_mode"
    assert pos.margin_size == Decimal("143.9917") and pos.unrealized_pl == Decimal("-3.57")
    assert pos.liquidation_price == Decimal("76583.182640144666") and pos.mark_price == Decimal("84491")
    assert pos.c_time == 1740834529467 and pos.u_time == 1740834529467
    assert pos.take_profit is None and pos.stop_loss is None  # no TP/SL on this channel: orders-algo has them


def test_orders_algo_push_maps_the_short_plan_codes():
    row = load("ws_orders_algo_push")["data"][0]
    plan = parse_plan(row)
    assert row["planType"] == "psl" and plan.plan_type == "pos_loss"
    assert plan.order_id == "1279733406184210432" and plan.client_oid == "cp-7f3a-c01-sl"
    assert plan.trigger_price == Decimal("82000.0") and plan.symbol == "BTCUSDT"
    assert plan.pos_side == "long" and plan.status == "live" and plan.live
    for code, name in (("ptp", "pos_profit"), ("tp", "profit_plan"), ("sl", "loss_plan"), ("mtpsl", "moving_plan")):
        assert parse_plan({**row, "planType": code}).plan_type == name
    for status in ("cancelled", "executed", "fail_execute"):
        assert not parse_plan({**row, "status": status}).live


def test_orders_push_reads_lower_case_reduce_only_and_the_cumulative_fill():
    row = load("ws_orders_push")["data"][0]
    assert row["reduceOnly"] == "no"
    order = parse_order(row)
    assert order.reduce_only is False and parse_order({**row, "reduceOnly": "yes"}).reduce_only is True
    assert order.order_id == "1279727743218102276" and order.client_oid == "1740836789613"
    assert order.status == "filled" and order.filled == Decimal("0.017") and order.size == Decimal("0.017")
    assert order.price_avg == Decimal("84701") and order.pos_side == "long" and order.trade_side == "open"
    assert order.fill_time == 1740836790811 and order.u_time == 1740836790842


def test_account_push_gives_the_usdt_equity():
    row = load("ws_account_push")["data"][0]
    assert row["assetsMode"] == "single"  # note the extra s (REST: assetMode)
    assert parse_equity(row) == Decimal("2509.861865227")
    assert parse_equity({**row, "marginCoin": "BTC"}) is None


def test_login_message_matches_the_signature_vector():
    vectors = json.loads((FIXTURES / "signature_vectors.json").read_text())["vectors"]
    vector = next(v for v in vectors if v["id"] == "ws_login")
    message = login_message("k", vector["secret"], "p", float(vector["timestamp"]) + 0.9)  # seconds, truncated
    arg = message["args"][0]
    assert message["op"] == "login" and arg["timestamp"] == vector["timestamp"]
    assert arg["sign"] == vector["expected_access_sign"] == vector["login_message"]["args"][0]["sign"]


def test_subscribe_message_matches_the_fixture_and_adds_the_account_channel():
    expected = load("ws_login")["subscribe_request"]
    assert subscribe_message(("positions", "orders", "orders-algo")) == expected
    account = subscribe_message(("account",))["args"][0]
    assert account == {"instType": "USDT-FUTURES", "channel": "account", "coin": "default"}


# ----- the book

def test_book_joins_positions_with_their_position_tpsl_and_reports_what_changed():
    book = MasterBook()
    assert book.state() is None
    assert book.apply(push("ws_account_push")) is False  # equity alone changes no copy
    assert book.apply(push("ws_positions_push")) is True
    state = book.state()
    assert [p.key for p in state.positions] == [("BTCUSDT", "long")] and state.equity == Decimal("2509.861865227")
    assert state.positions[0].stop_loss is None
    assert book.apply(push("ws_orders_algo_push")) is True  # a stop loss appeared
    assert book.state().positions[0].stop_loss == Decimal("82000.0")
    assert book.state().positions[0].stop_loss_id == "1279733406184210432"
    assert book.apply(push("ws_orders_algo_push")) is False  # the same again: nothing changed
    cancelled = load("ws_orders_algo_push")
    cancelled["data"][0]["status"] = "cancelled"
    assert book.apply(Push("orders-algo", "snapshot", tuple(cancelled["data"]), 1, 2.0)) is True
    assert book.state().positions[0].stop_loss is None


def test_the_last_close_is_an_empty_snapshot():
    book = MasterBook()
    book.apply(push("ws_account_push"))
    book.apply(push("ws_positions_push"))
    assert book.apply(Push("positions", "snapshot", (), 1, 3.0)) is True
    assert book.state().positions == ()


def test_a_rest_read_replaces_the_book_unless_a_push_came_after_its_request_left():
    book = MasterBook()
    book.apply(push("ws_account_push", received_at=10.0))
    book.apply(push("ws_positions_push", received_at=10.0))
    flat = MasterState(equity=Decimal("2500"), positions=())
    book.absorb_rest(flat, request_sent_at=9.0)  # older than the push: the push stands
    assert len(book.state().positions) == 1
    book.absorb_rest(flat, request_sent_at=11.0)  # newer: REST is the latest fact (a lost push repaired)
    assert book.state().positions == () and book.state().equity == Decimal("2500")


def test_rest_positions_bring_their_tpsl_ids_into_the_book():
    base = parse_position(load("ws_positions_push")["data"][0])
    held = Position(**{**base.__dict__, "take_profit": Decimal("90000"), "take_profit_id": "tp1"})
    book = MasterBook()
    book.absorb_rest(MasterState(equity=Decimal("1"), positions=(held,)), request_sent_at=5.0)
    assert book.state().positions[0].take_profit == Decimal("90000")
    gone = {"orderId": "tp1", "instId": "BTCUSDT", "planType": "ptp", "posSide": "long", "status": "cancelled",
            "triggerPrice": "90000"}
    assert book.apply(Push("orders-algo", "snapshot", (gone,), 1, 6.0)) is True
    assert book.state().positions[0].take_profit is None


# ----- the follower

def test_follower_coalesces_pushes_that_arrive_during_a_run_into_one_more_run():
    started = threading.Event()
    release = threading.Event()
    calls: list[float | None] = []

    def book_pass(detected_at):
        calls.append(detected_at)
        started.set()
        release.wait(5)

    follower = Follower(rest_pass=lambda: None, book_pass=book_pass)
    follower.start()
    try:
        follower.follow(1.0)
        assert started.wait(5)
        for at in (2.0, 3.0, 4.0):  # three pushes while the first run is busy
            follower.follow(at)
        release.set()
        assert follower.idle(5)
        assert calls == [1.0, 2.0]  # one more run, for the earliest push it answers
    finally:
        follower.stop()


def test_follower_runs_the_rest_reconcile_first_and_then_its_callback():
    order: list[str] = []
    follower = Follower(rest_pass=lambda: order.append("rest"), book_pass=lambda at: order.append("book"))
    follower.reconcile(then=lambda: order.append("then"))
    follower.follow(None)
    follower.start()
    try:
        assert follower.idle(5)
        assert order == ["rest", "then", "book"]
    finally:
        follower.stop()


def test_a_failing_pass_does_not_kill_the_follower():
    calls = []

    def boom(at):
        calls.append(at)
        raise RuntimeError("boom")

    follower = Follower(rest_pass=lambda: None, book_pass=boom)
    follower.start()
    try:
        follower.follow(1.0)
        assert follower.idle(5)
        follower.follow(2.0)
        assert follower.idle(5)
        assert calls == [1.0, 2.0]
    finally:
        follower.stop()


# ----- status and URL

def test_status_line_says_where_changes_come_from():
    now = time.time()
    live = FeedStatus(enabled=True, state="live", last_push_at=now - 0.4)
    assert live.text(now) == "live · WebSocket, last push 0.4 s ago"
    down = FeedStatus(enabled=True, state="down", reason="connection closed by the server (code 1001)",
                      down_since=time.mktime((2026, 12, 1, 12, 3, 0, 0, 0, -1)))
    assert down.text(now) == "polling · WebSocket down since 12:03 (connection closed by the server (code 1001))"
    assert FeedStatus(enabled=False, state="off", reason="WS_ENABLED is off").text(now) == \
        "polling · WebSocket off (WS_ENABLED is off)"
    assert FeedStatus(enabled=True, state="off").text(now) == "polling · WebSocket not started"  # never "down"


class _App:
    def __init__(self, **config):
        self.config = {"WS_ENABLED": True, "EXCHANGE": "bitget", **config}
        self.extensions = {}


def test_stream_url_follows_rest_and_never_mixes_worlds():
    assert stream_url(_App(BITGET_BASE_URL="https://api.bitget.com"), demo=False)[0] == \
        "wss://ws.bitget.com/v2/ws/private"
    assert stream_url(_App(BITGET_BASE_URL="https://api.bitget.com"), demo=True)[0] == \
        "wss://wspap.bitget.com/v2/ws/private"
    # any other REST server: no Bitget stream about an account that lives elsewhere
    url, why = stream_url(_App(BITGET_BASE_URL="http://127.0.0.1:9999"), demo=False)
    assert url is None and "BITGET_WS_URL" in why
    assert stream_url(_App(BITGET_BASE_URL="http://127.0.0.1:9999", BITGET_WS_URL="ws://127.0.0.1:1/v2/ws/private"),
                      demo=False)[0] == "ws://127.0.0.1:1/v2/ws/private"
    assert stream_url(_App(WS_ENABLED=False, BITGET_BASE_URL="https://api.bitget.com"), demo=False) == \
        (None, "WS_ENABLED is off")
