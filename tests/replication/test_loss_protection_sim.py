"""Loss protection against the simulator over real HTTP.

Measured from PnL (fills + unrealized), so deposits and withdrawals never fire or mask a limit; the fills are
read incrementally with a persisted cursor. The close_all_pause action runs in the background under the
replication lock, confirms by re-reading, keeps the links of positions still open, retries, and notifies
what is true.
"""
from __future__ import annotations

import time
from decimal import Decimal as D

import pytest

from app import create_app
from app.engine.tasks import wait_for_background
from app.feeds.refresh import refresh_accounts
from app.store.extensions import db
from app.store.models import Account, PositionLink
from tests.conftest import add_account, app_config, shutdown
from tests.receiver import Receiver
from tests.replication.test_service_sim import BTC, held

ETH = "ETHUSDT"
FILLS = "/api/v2/mix/order/fills"
CLOSE = "/api/v2/mix/order/close-positions"


@pytest.fixture
def notified(app, receiver):
    """The generic webhook pointed at the local receiver."""
    app.config.update(WEBHOOK_URL=f"{receiver.url}/hook")
    return receiver


def loss_texts(receiver: Receiver, count: int = 1, timeout: float = 8.0) -> list[str]:
    """The loss-protection messages received, waiting for at least `count` of them."""
    end = time.monotonic() + timeout
    while True:
        texts = [b["text"] for b in receiver.bodies("/hook") if b.get("event") == "loss_protection"]
        if len(texts) >= count or time.monotonic() > end:
            return texts
        time.sleep(0.02)


def wait_until(predicate, timeout: float = 8.0):
    end = time.monotonic() + timeout
    while not (value := predicate()):
        assert time.monotonic() < end, "condition not met in time"
        time.sleep(0.02)
    return value


def fired(app, account_id: int) -> tuple[str | None, bool]:
    """(loss_fired_reason, paused) of a client."""
    with app.app_context():
        account = db.session.get(Account, account_id)
        return account.loss_fired_reason, account.paused


def links(app, account_id: int) -> set[tuple[str, str]]:
    with app.app_context():
        rows = db.session.query(PositionLink.symbol, PositionLink.hold_side).filter_by(account_id=account_id)
        return {(symbol, side) for symbol, side in rows}


def requests_to(sim, path: str) -> int:
    return sim.stats.snapshot(sim.exchange.key_names())["by_path"].get(path, 0)


def copy_master_long(sim, client, name: str, size: str = "0.1") -> None:
    from app.engine.tasks import wait_for_background

    sim.exchange.open_position("Master", BTC, "long", size)
    client.post("/api/replicate")
    assert held(sim, name)[(BTC, "long")] == D(size)
    # the refresh after the action runs in the background: let it finish at this price, or a later price
    # move would be judged by it at a moment the test did not choose
    wait_for_background(client.application)


def move_balance(sim, name: str, amount: str) -> None:
    """A deposit (+) or withdrawal (-): the balance changes with no fill."""
    sim.exchange.update_account(name, balance=sim.exchange.account(name).balance + D(amount))


def test_a_withdrawal_does_not_fire_the_daily_limit_but_a_losing_trade_does(app, client, sim):
    sim.exchange.set_price(BTC, "80000")
    add_account(app, sim, "Master", role="master")
    client_id = add_account(app, sim, "L", daily_loss_limit="100")
    copy_master_long(sim, client, "L")
    refresh_accounts(app)  # tracking starts
    move_balance(sim, "L", "-500")
    refresh_accounts(app)
    assert fired(app, client_id) == (None, False)
    sim.exchange.set_price(BTC, "78900")  # the copy is 110 USDT under water
    refresh_accounts(app)
    reason, paused = fired(app, client_id)
    assert reason == "daily loss 110.00 USDT reached the limit of 100 USDT" and paused is False


def test_a_deposit_does_not_mask_a_realized_loss(app, client, sim, notified):
    sim.exchange.set_price(BTC, "80000")
    add_account(app, sim, "Master", role="master")
    client_id = add_account(app, sim, "L", daily_loss_limit="100")
    refresh_accounts(app)  # tracking starts while flat
    copy_master_long(sim, client, "L")
    sim.exchange.set_price(BTC, "78500")
    move_balance(sim, "L", "1000")  # equity ends up higher than this morning
    sim.exchange.close_position("Master", BTC, "long")
    client.post("/api/replicate")
    assert held(sim, "L") == {}  # flat: only the fills can tell the loss
    refresh_accounts(app)
    reason, _ = fired(app, client_id)
    # -150 on the trade, fees 4.80 to open and 4.71 to close
    assert reason == "daily loss 159.51 USDT reached the limit of 100 USDT"
    assert any("stopped opening (close only)" in t for t in loss_texts(notified))


def test_fills_are_read_incrementally_and_the_cursor_survives_a_restart(app, client, sim, tmp_path):
    sim.exchange.set_price(BTC, "80000")
    add_account(app, sim, "Master", role="master")
    client_id = add_account(app, sim, "L", daily_loss_limit="100")
    refresh_accounts(app)
    sim.stats.reset()
    refresh_accounts(app, [client_id])
    assert requests_to(sim, FILLS) == 1  # nothing new: one request
    copy_master_long(sim, client, "L")
    sim.exchange.set_price(BTC, "79500")
    sim.exchange.close_position("Master", BTC, "long")
    client.post("/api/replicate")  # L realizes -50 - 4.80 - 4.77 = -59.57
    refresh_accounts(app)
    assert fired(app, client_id) == (None, False)
    restarted = create_app(app_config(tmp_path, sim.url, VAULT_KEY=app.config["VAULT_KEY"]))
    try:
        refresh_accounts(restarted)  # counting the same fills again would make it 119.14
        assert fired(restarted, client_id) == (None, False)
        sim.exchange.set_price(BTC, "80000")
        sim.exchange.open_position("L", BTC, "long", "0.1")
        sim.exchange.set_price(BTC, "79500")
        sim.exchange.close_position("L", BTC, "long")  # a second -59.57 today
        refresh_accounts(restarted)
        reason, _ = fired(restarted, client_id)
        assert reason == "daily loss 119.14 USDT reached the limit of 100 USDT"
    finally:
        shutdown(restarted)


def test_a_withdrawal_does_not_fire_the_drawdown_limit_a_real_loss_closes_and_pauses(app, client, sim, notified):
    sim.exchange.set_price(BTC, "80000")
    add_account(app, sim, "Master", role="master")
    client_id = add_account(app, sim, "D", drawdown_limit_pct="5", loss_action="close_all_pause")
    copy_master_long(sim, client, "D")
    refresh_accounts(app)
    move_balance(sim, "D", "-2000")  # 20 % of the equity leaves, no loss
    refresh_accounts(app)
    assert fired(app, client_id) == (None, False)
    sim.exchange.set_price(BTC, "74800")  # -520 on about 9995: 5.2 %
    refresh_accounts(app)
    assert wait_for_background(app)
    assert held(sim, "D") == {} and links(app, client_id) == set()
    reason, paused = fired(app, client_id)
    assert reason.startswith("drawdown 5.2") and paused is True
    assert [t for t in loss_texts(notified) if "closed and paused" in t]


def losing_pauser(app, client, sim, **settings) -> int:
    """Master and C (close_all_pause at 5 % drawdown) both long 0.1 BTC; tracking started."""
    sim.exchange.set_price(BTC, "80000")
    add_account(app, sim, "Master", role="master")
    client_id = add_account(app, sim, "C", drawdown_limit_pct="5", loss_action="close_all_pause", **settings)
    copy_master_long(sim, client, "C")
    refresh_accounts(app)
    return client_id


def test_a_failed_close_is_retried_then_reported_with_what_is_still_open(app, client, sim, notified):
    app.config["LOSS_CLOSE_RETRY_DELAYS"] = (1.5, 1.5)  # a close waiting in the refresh would take > 3 s
    sim.exchange.set_price(ETH, "3000")
    client_id = losing_pauser(app, client, sim)
    sim.exchange.open_position("Master", ETH, "short", "1")
    client.post("/api/replicate")
    assert links(app, client_id) == {(BTC, "long"), (ETH, "short")}
    sim.exchange.close_position("C", ETH, "short")  # closed by hand on the exchange
    sim.faults.configure({CLOSE: {"p_5xx": 1}})
    sim.stats.reset()
    sim.exchange.set_price(BTC, "74800")
    started = time.monotonic()
    refresh_accounts(app)
    assert time.monotonic() - started < 2.5  # the close and its retries run in the background
    assert wait_for_background(app)
    assert requests_to(sim, CLOSE) == 3  # first try and two retries
    assert held(sim, "C") == {(BTC, "long"): D("0.1")}
    assert links(app, client_id) == {(BTC, "long")}  # only the link of the position really gone is deleted
    reason, paused = fired(app, client_id)
    assert paused is True and reason.startswith("drawdown") and "close FAILED: still open BTCUSDT long 0.1" in reason
    texts = loss_texts(notified)
    assert len(texts) == 1 and "close FAILED: still open BTCUSDT long 0.1; paused" in texts[0]
    assert "closed and paused" not in texts[0]
    refresh_accounts(app)  # already fired: no second close, no second message
    assert wait_for_background(app) and requests_to(sim, CLOSE) == 3


def test_a_failed_close_succeeds_on_a_retry(app, client, sim, notified):
    app.config["LOSS_CLOSE_RETRY_DELAYS"] = (0.5, 1.0, 1.0)
    client_id = losing_pauser(app, client, sim)
    sim.faults.configure({CLOSE: {"p_5xx": 1}})
    sim.stats.reset()
    sim.exchange.set_price(BTC, "74800")
    refresh_accounts(app)
    wait_until(lambda: requests_to(sim, CLOSE) >= 1)
    sim.faults.configure(None)  # the exchange recovers
    assert wait_for_background(app)
    assert held(sim, "C") == {} and links(app, client_id) == set()
    assert requests_to(sim, CLOSE) >= 2
    assert any("closed and paused" in t for t in loss_texts(notified))
    assert fired(app, client_id)[1] is True


def test_a_lost_close_answer_is_confirmed_by_reading_the_positions(app, client, sim, notified):
    app.config["LOSS_CLOSE_RETRY_DELAYS"] = (0.2,)
    client_id = losing_pauser(app, client, sim)
    sim.faults.configure({CLOSE: {"p_lost": 1}})  # it runs, but the answer never arrives
    sim.stats.reset()
    sim.exchange.set_price(BTC, "74800")
    refresh_accounts(app)
    assert wait_for_background(app)
    assert held(sim, "C") == {} and links(app, client_id) == set() and requests_to(sim, CLOSE) == 1
    assert any("closed and paused" in t for t in loss_texts(notified))


def test_the_close_waits_for_the_replication_lock(app, client, sim, notified):
    client_id = losing_pauser(app, client, sim)
    sim.exchange.set_price(BTC, "74800")
    with app.extensions["replication"].lock.hold("replicate", "test"):
        started = time.monotonic()
        refresh_accounts(app)
        assert time.monotonic() - started < 1.0
        time.sleep(0.8)
        assert held(sim, "C") == {(BTC, "long"): D("0.1")}  # nothing is closed while a replication runs
        assert fired(app, client_id)[1] is True  # paused at once
    assert wait_for_background(app)
    assert held(sim, "C") == {}
    assert any("closed and paused" in t for t in loss_texts(notified))


def test_a_lock_that_stays_busy_ends_in_a_truthful_failure(app, client, sim, notified):
    app.config.update(LOSS_CLOSE_RETRY_DELAYS=(0.1, 0.1), LOSS_CLOSE_LOCK_WAIT_SECONDS=0.2)
    client_id = losing_pauser(app, client, sim)
    sim.exchange.set_price(BTC, "74800")
    with app.extensions["replication"].lock.hold("replicate", "test"):
        refresh_accounts(app)
        assert wait_for_background(app)
    assert held(sim, "C") == {(BTC, "long"): D("0.1")}
    assert links(app, client_id) == {(BTC, "long")}
    texts = loss_texts(notified)
    assert len(texts) == 1 and "close FAILED: still open BTCUSDT long 0.1; paused (last error: Already running" \
        in texts[0]
    assert fired(app, client_id)[1] is True


def test_reset_restarts_tracking_so_the_client_may_open_again(app, client, sim):
    sim.exchange.set_price(BTC, "80000")
    add_account(app, sim, "Master", role="master")
    client_id = add_account(app, sim, "L", daily_loss_limit="100")
    copy_master_long(sim, client, "L")
    refresh_accounts(app)
    sim.exchange.set_price(BTC, "78500")
    refresh_accounts(app)
    assert fired(app, client_id)[0].startswith("daily loss 150.00")
    assert client.post(f"/api/accounts/{client_id}/reset-loss").json["loss_fired_at"] is None
    refresh_accounts(app)  # today's window restarts at -150 unrealized
    refresh_accounts(app)
    assert fired(app, client_id) == (None, False)
    sim.exchange.set_price(BTC, "77400")  # a further -110
    refresh_accounts(app)
    assert fired(app, client_id)[0] == "daily loss 110.00 USDT reached the limit of 100 USDT"
