"""The dashboard button, the JSON API and the poller fired together never run two replications at once:
an operator's click waits its turn (a clear "already running" only after OPERATOR_WAIT_SECONDS), a poll
that finds the lock taken skips its tick and the next one sees the drift."""
from __future__ import annotations

import functools
import threading
import time
from decimal import Decimal

import pytest

from app.store.extensions import db
from app.store.models import Run
from tests.conftest import add_account, operator_client

from .helpers import BTC, held, max_held

ROUNDS = 8
HOLD_S = 0.15  # each replication is held open this long so that the three callers really overlap


@pytest.fixture
def watched(app, sim):
    """Two clients (multiplier sizing) and a probe around the service that counts replications in flight."""
    sim.exchange.set_price(BTC, "80000")
    add_account(app, sim, "Master", role="master", balance="100000")
    add_account(app, sim, "A", sizing_mode="multiplier", sizing_value="0.5")
    add_account(app, sim, "B", pos_mode="one_way_mode", sizing_mode="multiplier", sizing_value="0.2")
    service = app.extensions["replication"]
    real = service._reconcile
    probe = {"active": 0, "max": 0, "runs": 0}
    guard = threading.Lock()

    def reconcile(action, trigger, **kw):
        if kw.get("preview"):
            return real(action, trigger, **kw)
        with guard:
            probe["active"] += 1
            probe["max"] = max(probe["max"], probe["active"])
            probe["runs"] += 1
        try:
            time.sleep(HOLD_S)
            return real(action, trigger, **kw)
        finally:
            with guard:
                probe["active"] -= 1

    service._reconcile = reconcile
    return probe


operator = operator_client  # the shared helper in tests/conftest.py


def flashes(test_client) -> list[tuple[str, str]]:
    with test_client.session_transaction() as session:
        return list(session.get("_flashes", []))


def fire_together(calls: dict) -> dict:
    """Start every call at the same instant (a barrier), wait for all, return their answers by name."""
    barrier = threading.Barrier(len(calls))
    answers: dict[str, object] = {}

    def run(name: str, call) -> None:
        barrier.wait()
        answers[name] = call()

    threads = [threading.Thread(target=run, args=item) for item in calls.items()]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    return answers


def test_button_api_and_poller_together_never_overlap(app, client, sim, watched):
    poller = app.extensions["poller"]
    client.post("/api/auto-follow", json={"on": True})
    poller.tick()  # first look at the master
    outcomes = {"api": [], "button": [], "poller": []}
    for round_no in range(ROUNDS):
        sim.exchange.open_position("Master", BTC, "long", "0.01")  # something to copy every round
        api, button = operator(app), operator(app)
        poller.status.next_attempt_at = 0
        answers = fire_together({"api": functools.partial(api.post, "/api/replicate"),
                                 "button": functools.partial(button.post, "/actions/replicate"),
                                 "poller": poller.tick})

        api_answer = answers["api"]
        if api_answer.status_code == 409:
            error = api_answer.json["error"]
            assert error["code"] == "already_running" and "already running" in error["message"].lower(), error
            outcomes["api"].append("busy")
        else:
            assert api_answer.status_code == 200, api_answer.get_data(as_text=True)
            outcomes["api"].append("ran")
        assert answers["button"].status_code == 302
        messages = [m for _, m in flashes(button)]
        assert len(messages) == 1, messages
        outcomes["button"].append("busy" if "already running" in messages[0].lower() else "ran")
        with app.app_context():
            by_poller = db.session.query(Run).filter_by(trigger="poller").count()
        # a poll that finds the lock taken simply skips its tick: the next one sees the drift (level-triggered)
        outcomes["poller"].append("ran" if by_poller > outcomes["poller"].count("ran") else "busy")
        ran = [who for who, seen in outcomes.items() if seen[-1] == "ran"]
        assert ran, f"round {round_no}: nobody replicated"

    assert watched["max"] == 1, f"{watched['max']} replications ran at the same time"
    winners = sum(seen.count("ran") for seen in outcomes.values())
    # an operator's click waits for a running poll or run instead of being refused; they ran one after another
    assert outcomes["api"] == outcomes["button"] == ["ran"] * ROUNDS, outcomes
    with app.app_context():
        runs = db.session.query(Run).filter(Run.action != "preview").all()
        # a refused caller leaves no run behind; a poller pass with nothing left to send is not recorded either
        assert len(runs) == winners <= watched["runs"]
        assert all(r.status != "running" for r in runs)

    # whatever the interleaving, the clients end on target and never held more
    assert client.post("/api/replicate").status_code == 200
    master_size = held(sim, "Master")[(BTC, "long")]
    peaks = max_held(sim)
    for name, factor in (("A", Decimal("0.5")), ("B", Decimal("0.2"))):
        assert held(sim, name) == {(BTC, "long"): master_size * factor}, name
        assert peaks[(name, BTC, "long")] == master_size * factor, name


def test_an_operator_gets_already_running_once_the_wait_is_over(app, client, sim, watched, monkeypatch):
    from app.engine.replication import service as service_module

    monkeypatch.setattr(service_module, "OPERATOR_WAIT_SECONDS", 0.2)
    replication = app.extensions["replication"]
    with replication.lock.hold("close-all", "button"):
        started = time.monotonic()
        answer = client.post("/api/replicate")
    assert answer.status_code == 409 and answer.json["error"]["code"] == "already_running"
    assert "close-all" in answer.json["error"]["message"]
    assert time.monotonic() - started >= 0.2  # it waited for the running action before answering
