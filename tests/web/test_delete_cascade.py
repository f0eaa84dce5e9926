"""Deleting an account removes its links at the database level, so a reused id never inherits them."""
from __future__ import annotations

from decimal import Decimal

from app.accounts import service
from app.engine.replication.recording import AccountOutcome, finish_run, start_run
from app.store.extensions import db
from app.store.models import PositionLink, RunResult
from tests.conftest import add_account


def test_links_are_deleted_with_their_account_and_results_keep_the_name(app, sim):
    account_id = add_account(app, sim, "Gone")
    app.extensions["replication"].links.create(account_id, "BTCUSDT", "long", Decimal("0.5"))
    with app.app_context():
        run = start_run("replicate", "test")
        finish_run(run, [AccountOutcome(account_id, "Gone", "ok", "done")], 0.0)
        service.delete_account(account_id)
        assert db.session.query(PositionLink).count() == 0
        result = db.session.query(RunResult).one()
        assert result.account_id is None and result.account_name == "Gone"
