"""Auto-follow from the master's private WebSocket, against the simulator over real sockets.

The scheduler is off in these tests (no REST polling at all unless a test ticks the poller), so every copy
that lands came from a push: open, increase, partial close, full close (`data: []`) and a TP/SL move. Then
the failures: a dropped connection reconnects and reconciles, lost pushes are repaired by the reconcile, a
refused login falls back to polling with the reason shown, and the 24 h disconnect is survived. Last, a
client's own stream: its own stop shows in the cache at once and its positions are not read again by REST.
"""
from __future__ import annotations

import time
from decimal import Decimal

import pytest

from app import create_app
from app.feeds.poller import set_auto_follow
from app.store.extensions import db
from app.store.models import Run
from tests.conftest import add_account, app_config, shutdown

BTC, ETH = "BTCUSDT", "ETHUSDT"


def held(sim, name: str) -> dict[tuple[str, str], Decimal]:
    return {key: pos.size for key, pos in sim.exchange.account(name).positions.items()}


def plans(sim, name: str) -> dict[tuple[str, str, str], Decimal]:
    return {(p.symbol, p.hold_side, p.plan_type): p.trigger_price for p in sim.exchange.account(name).plans.values()}


def wait_for(check, timeout: float = 5.0, what: str = "condition"):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = check()
        if value:
            return value
        time.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def stream_app(tmp_path, sim):
    application = create_app(app_config(tmp_path, sim.url, BITGET_WS_URL=sim.ws_url, WS_PING_SECONDS=0.5,
                                        WS_TIMEOUT_SECONDS=3, MASTER_EMPTY_CONFIRM_SECONDS=0.05))
    yield application
    application.extensions["master_feed"].stop()
    application.extensions["client_streams"].stop()
    shutdown(application)


@pytest.fixture
def live(stream_app, sim):
    """Master and client A (half the master's equity), auto-follow on, the stream live and reconciled."""
    sim.exchange.set_price(BTC, "80000")
    sim.exchange.set_price(ETH, "2000")
    add_account(stream_app, sim, "Master", role="master", balance="10000")
    add_account(stream_app, sim, "A", balance="5000")
    with stream_app.app_context():
        set_auto_follow(True)
    feed = stream_app.extensions["master_feed"]
    feed.start()
    wait_for(lambda: feed.live, what="the stream to go live")
    assert feed.follower.idle()
    return feed


def settle(feed) -> None:
    """Let the pushes of the last trade arrive and every run they asked for finish."""
    time.sleep(0.15)
    assert feed.follower.idle(10)


def test_every_master_change_reaches_the_client_through_the_stream_alone(stream_app, sim, live):
    ex = sim.exchange
    ex.open_position("Master", BTC, "long", "0.1")
    wait_for(lambda: held(sim, "A") == {(BTC, "long"): Decimal("0.05")}, what="the copied open")
    ex.open_position("Master", BTC, "long", "0.1")  # increase
    wait_for(lambda: held(sim, "A") == {(BTC, "long"): Decimal("0.1")}, what="the copied increase")
    ex.close_position("Master", BTC, "long", "0.05")  # partial close
    wait_for(lambda: held(sim, "A") == {(BTC, "long"): Decimal("0.075")}, what="the copied partial close")
    ex.set_tpsl("Master", BTC, "long", tp="90000", sl="70000")
    wait_for(lambda: plans(sim, "A") == {(BTC, "long", "pos_profit"): Decimal("90000"),
                                         (BTC, "long", "pos_loss"): Decimal("70000")}, what="the copied TP/SL")
    ex.set_tpsl("Master", BTC, "long", tp="95000")  # moved
    wait_for(lambda: plans(sim, "A").get((BTC, "long", "pos_profit")) == Decimal("95000"), what="the moved TP")
    ex.close_position("Master", BTC, "long")  # the last close: the push is `data: []`
    wait_for(lambda: held(sim, "A") == {}, what="the copied full close")
    settle(live)
    assert held(sim, "A") == {}
    with stream_app.app_context():
        triggers = {r.trigger for r in db.session.query(Run).all()}
    assert triggers == {"stream"} or triggers == {"stream", "poller"}  # the poller only for the first reconcile
    assert stream_app.extensions["master_feed"].status.to_json()["text"].startswith("live · WebSocket, last push")


def test_pushes_during_a_run_are_coalesced_into_one_more_run_and_nothing_is_missed(stream_app, sim, live):
    ex = sim.exchange
    for _ in range(5):  # five quick trades: the runs they ask for overlap
        ex.open_position("Master", ETH, "short", "1")
    wait_for(lambda: held(sim, "A") == {(ETH, "short"): Decimal("2.5")}, what="all five trades copied")
    settle(live)
    with stream_app.app_context():
        stream_runs = db.session.query(Run).filter_by(trigger="stream").count()
    assert 1 <= stream_runs <= 5


def test_a_dropped_connection_reconnects_and_reconciles_what_happened_meanwhile(stream_app, sim, live):
    ws = sim.ws
    ws.configure({"refuse_logins": True, "drop": True})  # down, and it stays down for a while
    wait_for(lambda: live.status.state in ("down", "connecting"), what="the feed to notice")
    sim.exchange.open_position("Master", BTC, "short", "0.2")  # while nobody listens
    time.sleep(0.2)
    assert held(sim, "A") == {}
    ws.configure({"refuse_logins": False})
    live._stopping.set()  # cut the backoff short: restart the connection thread now
    live._thread.join(5)
    live._stopping.clear()
    live._thread = None
    live.start()
    wait_for(lambda: held(sim, "A") == {(BTC, "short"): Decimal("0.1")}, what="the reconcile after reconnecting")
    wait_for(lambda: live.live, what="live again")
    assert live.status.connects >= 2


def test_lost_pushes_are_repaired_by_the_periodic_reconcile(stream_app, sim, live):
    sim.ws.configure({"lose_pushes": 10})
    sim.exchange.open_position("Master", BTC, "long", "0.1")
    time.sleep(0.3)
    assert held(sim, "A") == {}  # the stream never told
    stream_app.extensions["poller"].tick(force=True)  # what RECONCILE_INTERVAL_SECONDS does every 10 s
    assert held(sim, "A") == {(BTC, "long"): Decimal("0.05")}


def test_the_reconcile_interval_spares_rest_while_the_stream_is_live(stream_app, sim, live):
    poller = stream_app.extensions["poller"]
    before = sim.stats.snapshot({})["total"]
    poller.tick()  # within RECONCILE_INTERVAL_SECONDS of the reconcile after connecting: no read
    poller.tick()
    assert sim.stats.snapshot({})["total"] == before
    poller.status.last_success_at -= 11  # the interval has passed: the reconciler reads REST again
    poller.tick()
    assert sim.stats.snapshot({})["total"] > before


def test_a_refused_login_falls_back_to_polling_with_the_reason_shown(tmp_path, sim):
    sim.ws.configure({"refuse_logins": True})
    application = create_app(app_config(tmp_path, sim.url, BITGET_WS_URL=sim.ws_url, WS_TIMEOUT_SECONDS=3))
    try:
        sim.exchange.set_price(BTC, "80000")
        add_account(application, sim, "Master", role="master", balance="10000")
        add_account(application, sim, "A", balance="5000")
        with application.app_context():
            set_auto_follow(True)
        feed = application.extensions["master_feed"]
        feed.start()
        wait_for(lambda: feed.status.login_failed and feed.status.state == "down", what="the refused login")
        status = feed.status.to_json()
        assert status["state"] == "down" and not status["live"]
        assert "login refused: 30005" in status["text"] and status["text"].startswith("polling · WebSocket down")
        # polling still copies
        sim.exchange.open_position("Master", BTC, "long", "0.1")
        application.extensions["poller"].tick()
        assert held(sim, "A") == {(BTC, "long"): Decimal("0.05")}
        # the operator sees it on the dashboard and in /healthz, and is alerted (a watchdog problem)
        from app.feeds.watchdog import current_problems
        from app.store.models import Account

        with application.app_context():
            accounts = db.session.query(Account).all()
            problems = {p["key"]: p for p in current_problems(application, accounts)}
        assert problems["master-stream-login"]["level"] == "error"
        health = application.test_client().get("/healthz").get_json()
        assert health["master_stream"]["state"] == "down"
    finally:
        application.extensions["master_feed"].stop()
        shutdown(application)


def test_the_forced_disconnect_after_the_lifetime_is_survived_without_a_missed_change(stream_app, sim, live):
    sim.ws.configure({"max_lifetime_s": 0.5})
    connects = live.status.connects
    wait_for(lambda: live.status.connects > connects, timeout=8, what="a reconnect after the lifetime")
    sim.ws.configure({"max_lifetime_s": 86400})
    sim.exchange.open_position("Master", ETH, "long", "2")
    wait_for(lambda: held(sim, "A") == {(ETH, "long"): Decimal("1")}, timeout=8, what="the copy after reconnecting")


def test_an_empty_push_that_rest_does_not_confirm_closes_nothing(stream_app, sim, live):
    from app.bitget.stream import Push

    sim.exchange.open_position("Master", BTC, "long", "0.1")
    wait_for(lambda: held(sim, "A") == {(BTC, "long"): Decimal("0.05")}, what="the copied open")
    settle(live)
    live.book.apply(Push("positions", "snapshot", (), None, time.time()))  # a stray `data: []`
    live.follower.follow(time.time())
    settle(live)
    assert held(sim, "A") == {(BTC, "long"): Decimal("0.05")}  # the REST read disagreed: nothing closed
    assert [p.key for p in live.book.state().positions] == [(BTC, "long")]  # and the book was repaired


def test_a_client_stream_shows_the_clients_own_stop_at_once(stream_app, sim, live):
    streams = stream_app.extensions["client_streams"]
    streams.sync()
    try:
        assert streams.wait_live(1)
        sim.exchange.open_position("Master", BTC, "long", "0.1")
        wait_for(lambda: held(sim, "A") == {(BTC, "long"): Decimal("0.05")}, what="the copied open")
        with stream_app.app_context():
            from app.store.models import Account

            a_id = db.session.query(Account).filter_by(name="A").one().id
        cache = stream_app.extensions["state"]
        wait_for(lambda: [p.key for p in cache.get(a_id).positions] == [(BTC, "long")], what="the cache")
        settle(live)
        from app.engine.tasks import wait_for_background

        wait_for_background(stream_app)  # the refresh after the run is done: nothing else reads A now
        fetched = cache.get(a_id).fetched_at
        sim.exchange.set_tpsl("A", BTC, "long", sl="79000")  # the client's own stop, set by hand
        sim.exchange.set_price(BTC, "78900")  # and it fires
        wait_for(lambda: cache.get(a_id).positions == (), what="the stop seen without a REST read")
        assert cache.get(a_id).fetched_at == fetched  # a push shows the fact, it does not restamp the REST read
        assert stream_app.extensions["client_streams"].status()["live"] == 1
    finally:
        streams.stop()


def test_a_refresh_is_as_old_as_the_moment_its_reads_left(stream_app, sim, live):
    """A refresh that was sent before a run finished must not make the cache look newer than that run."""
    from app.feeds.refresh import refresh_accounts

    with stream_app.app_context():
        from app.store.models import Account

        a_id = db.session.query(Account).filter_by(name="A").one().id
    sim.faults.configure({"/api/v2/mix/position/all-position": {"latency_ms": 400}})
    before = time.time()
    refresh_accounts(stream_app, [a_id])
    sim.faults.configure(None)
    view = stream_app.extensions["state"].get(a_id)
    assert before <= view.fetched_at < before + 0.3  # stamped when it left, not when the slow answer came
