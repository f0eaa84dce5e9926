"""Auto-follow as a level-triggered reconciler, against the simulator: drift triggers runs, not master changes;
failing clients back off alone and are announced once per problem; the master is read inside the lock."""
from __future__ import annotations

import time
from decimal import Decimal

import pytest

from app.engine.replication.health import ClientHealth
from app.feeds.poller import set_auto_follow
from app.store.extensions import db
from app.store.models import Run
from tests.conftest import add_account
from tests.receiver import Receiver

BTC, ETH = "BTCUSDT", "ETHUSDT"


def held(sim, name: str) -> dict[tuple[str, str], Decimal]:
    return {key: pos.size for key, pos in sim.exchange.account(name).positions.items()}


def runs(app) -> list[Run]:
    with app.app_context():
        rows = db.session.query(Run).order_by(Run.id).all()
        db.session.expunge_all()
        return rows


@pytest.fixture
def following(app, sim):
    """Master and client A, auto-follow on, one first tick done (everyone reconciled once)."""
    sim.exchange.set_price(BTC, "80000")
    sim.exchange.set_price(ETH, "2000")
    add_account(app, sim, "Master", role="master", balance="10000")
    add_account(app, sim, "A", balance="5000")
    with app.app_context():
        set_auto_follow(True)
    poller = app.extensions["poller"]
    poller.tick()
    return poller


def test_the_first_tick_after_a_start_reconciles_without_any_master_change(app, sim):
    sim.exchange.set_price(BTC, "80000")
    add_account(app, sim, "Master", role="master", balance="10000")
    add_account(app, sim, "A", balance="5000", copy_existing=True)
    sim.exchange.open_position("Master", BTC, "long", "0.1")
    with app.app_context():
        set_auto_follow(True)
    app.extensions["poller"].tick()  # the very first look at the master: no "change" was ever seen
    assert held(sim, "A") == {(BTC, "long"): Decimal("0.05")}


def test_drift_on_a_client_is_reconciled_although_the_master_did_not_change(app, sim, following):
    sim.exchange.open_position("Master", BTC, "long", "0.1")
    following.tick()
    assert held(sim, "A") == {(BTC, "long"): Decimal("0.05")}
    # a new client appears while the master stays as it is: its missing copy is drift
    add_account(app, sim, "B", balance="2000", copy_existing=True)
    following.tick()
    assert held(sim, "B") == {(BTC, "long"): Decimal("0.02")}


def test_a_pass_with_nothing_to_send_is_not_a_run(app, sim, following):
    sim.exchange.open_position("Master", BTC, "long", "0.1")
    following.tick()
    recorded = len(runs(app))
    for _ in range(3):
        following.tick()
    assert len(runs(app)) == recorded
    # a plan of skips alone is not drift either
    add_account(app, sim, "Tiny", balance="1")
    for _ in range(3):
        following.tick()
    assert len(runs(app)) == recorded  # Tiny's unknown state is read once, by a pass that sends nothing
    assert held(sim, "Tiny") == {}


def test_a_failing_client_backs_off_alone_and_does_not_make_a_run_every_tick(app, sim, following):
    add_account(app, sim, "Poor", balance="50", sizing_mode="multiplier", sizing_value="1")
    following.tick()
    sim.exchange.open_position("Master", ETH, "long", "10", leverage=10)  # Poor cannot afford 2000 USDT margin
    following.tick()
    assert held(sim, "A") == {(ETH, "long"): Decimal("5")}
    failed = [r.id for r in runs(app) if r.status in ("failed", "partial")]
    assert len(failed) == 1
    for _ in range(5):  # ticks inside Poor's backoff (2 s, then 4 s ...) record nothing
        following.tick()
    assert [r.id for r in runs(app)] == [r.id for r in runs(app) if r.id <= failed[0]]
    trouble = app.extensions["replication"].health.failing()
    assert list(trouble) and trouble[list(trouble)[0]].name == "Poor"


def test_backoff_grows_resets_on_success_and_when_the_master_changes() -> None:
    health = ClientHealth()

    class Outcome:
        def __init__(self, status: str) -> None:
            self.account_id, self.account_name, self.status, self.message = 7, "Poor", status, "Insufficient balance"

    sig = (("ETHUSDT", "long", Decimal("10"), None, None),)
    now = 1000.0
    assert [e.kind for e in health.record([Outcome("failed")], sig, now)] == ["failing"]
    assert not health.due(7, sig, now + 1.9) and health.due(7, sig, now + 2.1)
    assert health.record([Outcome("failed")], sig, now + 3) == []  # no second alert
    assert not health.due(7, sig, now + 3 + 3.9) and health.due(7, sig, now + 3 + 4.1)  # 4 s now
    for i in range(20):
        health.record([Outcome("failed")], sig, now + 10 + i)
    assert health.failing()[7].next_attempt_at - (now + 29) == pytest.approx(300)  # capped at 5 minutes
    assert health.due(7, (("ETHUSDT", "long", Decimal("5"), None, None),), now + 30)  # the master moved
    reminder = health.record([Outcome("failed")], sig, now + 3700)
    assert [e.kind for e in reminder] == ["still_failing"]  # at most one reminder per hour
    assert [e.kind for e in health.record([Outcome("ok")], sig, now + 3701)] == ["recovered"]
    assert health.due(7, sig, now + 3701)


def test_notifications_are_per_problem_and_a_deleted_account_never_recovers(tmp_path, sim):
    from app import create_app
    from tests.conftest import app_config, shutdown

    receiver = Receiver()
    application = create_app(app_config(tmp_path, sim.url, WEBHOOK_URL=receiver.url + "/hook"))
    try:
        sim.exchange.set_price(ETH, "2000")
        add_account(application, sim, "Master", role="master", balance="10000")
        poor = add_account(application, sim, "Poor", balance="50", sizing_mode="multiplier", sizing_value="1")
        with application.app_context():
            set_auto_follow(True)
        poller = application.extensions["poller"]
        health = application.extensions["replication"].health
        poller.tick()
        sim.exchange.open_position("Master", ETH, "long", "10", leverage=10)
        for _ in range(3):
            poller.tick()
            for trouble in health.failing().values():
                trouble.next_attempt_at = 0  # skip the backoff wait: every tick retries
        application.extensions["notifier"].wait_idle()
        problems = [b for b in receiver.bodies("/hook") if b["event"] == "failures"]
        assert [b["data"]["state"] for b in problems] == ["failing"]
        assert "Poor" in problems[0]["text"] and "nsufficient" in problems[0]["text"]
        with application.app_context():
            from app.accounts import service as accounts

            accounts.delete_account(poor)
        sim.exchange.close_position("Master", ETH, "long")
        poller.tick()
        time.sleep(0.2)
        application.extensions["notifier"].wait_idle()
        states = [b["data"]["state"] for b in receiver.bodies("/hook") if b["event"] == "failures"]
        assert states == ["failing"]  # never "recovered" for an account that is gone
    finally:
        shutdown(application)
        receiver.server.shutdown()


def test_the_master_is_read_while_the_replication_lock_is_held(app, sim, following, monkeypatch):
    from app.errors import BusyError

    service = app.extensions["replication"]
    seen: list[bool] = []
    real = service.read_master

    def read_and_probe(account):
        try:
            with service.lock.hold("probe", "test"):
                seen.append(False)
        except BusyError:
            seen.append(True)
        return real(account)

    monkeypatch.setattr(service, "read_master", read_and_probe)
    following.tick()
    assert seen == [True]
    # and a tick that finds the lock taken reads nothing and runs nothing
    before = len(runs(app))
    with service.lock.hold("close-all", "button"):
        assert following.tick() == []
    assert seen == [True] and len(runs(app)) == before


def test_an_empty_master_read_is_confirmed_before_every_copy_is_closed(app, sim, following, monkeypatch):
    sim.exchange.open_position("Master", BTC, "long", "0.1")
    following.tick()
    assert held(sim, "A") == {(BTC, "long"): Decimal("0.05")}
    gateway = app.extensions["gateway"]
    with app.app_context():
        from app.store.models import Account

        master_client = gateway.client_for(db.session.query(Account).filter_by(role="master").one())
    real, answers = master_client.positions, [[]]  # one odd empty answer, then the truth

    def flaky():
        return answers.pop(0) if answers else real()

    monkeypatch.setattr(master_client, "positions", flaky)
    following.tick()
    assert held(sim, "A") == {(BTC, "long"): Decimal("0.05")}  # not closed on one empty read
    sim.exchange.close_position("Master", BTC, "long")
    following.tick()  # really flat: two empty reads
    assert held(sim, "A") == {}


def test_ticks_after_a_run_do_not_reread_clients_whose_cache_is_older_than_the_run(app, sim, following,
                                                                                    monkeypatch):
    import importlib

    refresh = importlib.import_module("app.feeds.refresh")
    monkeypatch.setattr(refresh, "refresh_soon", lambda *a: None)  # as when the budget queues the refresh
    sim.exchange.open_position("Master", BTC, "long", "0.1")
    following.tick()  # the run copies; the cache still holds A's state from before it
    assert held(sim, "A") == {(BTC, "long"): Decimal("0.05")}
    key = sim.exchange.account("A").api_key
    sim.stats.reset()
    for _ in range(3):
        following.tick()
    paths = sim.stats.snapshot({})["by_key"].get(key, {}).get("paths", {})
    assert paths.get("/api/v2/mix/position/all-position", 0) == 0  # (the fill measurement may read its order)  # no spurious pass: the master did not change since A was reconciled
    sim.exchange.open_position("Master", BTC, "long", "0.1")  # a real change is followed at once
    following.tick()
    assert held(sim, "A") == {(BTC, "long"): Decimal("0.1")}
