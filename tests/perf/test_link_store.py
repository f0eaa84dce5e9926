"""LinkStore group commit: concurrent writes are all committed, batched, and one bad write fails alone."""
from __future__ import annotations

import threading
import time
from decimal import Decimal

import pytest

from app.engine.replication import recording
from app.store.extensions import db
from app.store.models import PositionLink
from tests.conftest import add_account


def links(app) -> dict[tuple[int, str, str], Decimal]:
    with app.app_context():
        return {(r.account_id, r.symbol, r.hold_side): r.factor for r in db.session.query(PositionLink).all()}


def run_threads(targets) -> list[BaseException | None]:
    errors: list[BaseException | None] = [None] * len(targets)

    def wrap(i, fn):
        try:
            fn()
        except BaseException as exc:  # noqa: BLE001 - recorded for the assertions
            errors[i] = exc

    threads = [threading.Thread(target=wrap, args=(i, fn)) for i, fn in enumerate(targets)]
    for t in threads:
        t.start()
    return threads, errors


def test_concurrent_creates_updates_and_deletes_all_land(app, sim):
    ids = [add_account(app, sim, f"C{i}") for i in range(40)]
    store = app.extensions["replication"].links
    threads, errors = run_threads([lambda i=i: store.create(i, "BTCUSDT", "long", Decimal("0.5")) for i in ids])
    for t in threads:
        t.join()
    assert errors == [None] * len(ids)
    assert links(app) == {(i, "BTCUSDT", "long"): Decimal("0.5") for i in ids}
    # refresh the factor of half, delete the other half, concurrently
    half = len(ids) // 2
    work = [lambda i=i: store.create(i, "BTCUSDT", "long", Decimal("0.25")) for i in ids[:half]]
    work += [lambda i=i: store.delete(i, "BTCUSDT", "long") for i in ids[half:]]
    threads, errors = run_threads(work)
    for t in threads:
        t.join()
    assert errors == [None] * len(ids)
    assert links(app) == {(i, "BTCUSDT", "long"): Decimal("0.25") for i in ids[:half]}
    store.delete_all(ids[0])
    assert (ids[0], "BTCUSDT", "long") not in links(app)


def test_a_failing_write_fails_alone_and_the_rest_of_its_batch_commits(app, sim):
    ids = [add_account(app, sim, f"C{i}") for i in range(8)]
    store = app.extensions["replication"].links
    recording._write_lock.acquire()  # the first leader blocks on it, so the others queue into one batch
    try:
        work = [lambda i=i: store.create(i, "BTCUSDT", "long", Decimal("1")) for i in ids]
        work.append(lambda: store.create(ids[0], "ETHUSDT", "long", None))  # NOT NULL factor: IntegrityError
        threads, errors = run_threads(work)
        deadline = time.monotonic() + 5
        while len(store._pending) < len(work) - 1 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert len(store._pending) == len(work) - 1
    finally:
        recording._write_lock.release()
    for t in threads:
        t.join(10)
    assert all(e is None for e in errors[:-1]), errors
    assert errors[-1] is not None
    assert links(app) == {(i, "BTCUSDT", "long"): Decimal("1") for i in ids}


@pytest.mark.parametrize("workers", [1, 8])
def test_master_read_is_started_early_and_equals_the_blocking_read(app, sim, workers):
    from app.engine.replication.executor import AccountExecutor
    from app.store.models import Account

    add_account(app, sim, "Master", role="master", balance="10000")
    sim.exchange.open_position("Master", "BTCUSDT", "long", "0.1", leverage=10)
    service = app.extensions["replication"]
    service.executor = AccountExecutor(workers)
    with app.app_context():
        master = db.session.query(Account).filter_by(role="master").one()
        early = service.begin_master_read(master)()
        blocking = service.read_master(master)
    assert early == blocking and len(early.positions) == 1
