"""The CSV export honours every filter of the History page: the runs exported are the runs the page lists
(action, status, account, from, to), and with an account filter only that account's result rows."""
from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime

import pytest

from app.engine.replication.recording import AccountOutcome, finish_run, start_run
from app.store.extensions import db
from tests.conftest import add_account


@pytest.fixture
def runs(app, client, sim):
    """Three runs on three days with results of Alice and Bob."""
    alice, bob = add_account(app, sim, "Alice"), add_account(app, sim, "Bob")
    plan = (
        ("replicate", datetime(2026, 1, 10, 9, tzinfo=UTC), [(alice, "Alice", "ok"), (bob, "Bob", "failed")]),
        ("close-all", datetime(2026, 1, 12, 9, tzinfo=UTC), [(alice, "Alice", "ok"), (bob, "Bob", "ok")]),
        ("tpsl", datetime(2026, 1, 15, 23, 30, tzinfo=UTC), [(bob, "Bob", "skipped")]),
    )
    ids = {}
    with app.app_context():
        for action, started, outcomes in plan:
            run = start_run(action, "test")
            run = finish_run(run, [AccountOutcome(i, n, s, f"{n} {s} in {action}") for i, n, s in outcomes], 0.0)
            run.started_at = started
            db.session.commit()
            ids[action] = run.id
    return {"alice": alice, "bob": bob, **ids}


def exported(client, query: str) -> list[dict[str, str]]:
    answer = client.get(f"/history.csv?{query}")
    assert answer.status_code == 200 and answer.mimetype == "text/csv"
    return list(csv.DictReader(io.StringIO(answer.get_data(as_text=True))))


def listed(client, query: str) -> set[int]:
    html = client.get(f"/history?{query}").get_data(as_text=True)
    return {int(i) for i in re.findall(r'data-run-id="(\d+)"', html)}


def test_an_account_filter_exports_only_that_accounts_rows(client, runs):
    rows = exported(client, f"account={runs['alice']}")
    assert rows and {r["account"] for r in rows} == {"Alice"}, rows
    assert sorted(int(r["run_id"]) for r in rows) == sorted([runs["replicate"], runs["close-all"]])
    bob = exported(client, f"account={runs['bob']}")
    assert {r["account"] for r in bob} == {"Bob"} and len(bob) == 3


@pytest.mark.parametrize("query", [
    "action=replicate", "action=tpsl", "status=partial", "status=ok", "status=skipped",
    "from=2026-01-11", "to=2026-01-12", "from=2026-01-12&to=2026-01-12", "from=2026-01-15&to=2026-01-15",
    "action=close-all&from=2026-01-13", "account={alice}&action=close-all", "account={bob}&status=skipped",
    "account={bob}&from=2026-01-11&to=2026-01-14", "",
])
def test_the_export_holds_exactly_the_runs_the_page_lists(client, runs, query):
    query = query.format(alice=runs["alice"], bob=runs["bob"])
    rows = exported(client, query)
    assert {int(r["run_id"]) for r in rows} == listed(client, query), (query, rows)
    if "account=" in query:
        account = "Alice" if f"account={runs['alice']}" in query else "Bob"
        assert all(r["account"] == account for r in rows), rows


def test_the_filters_select_what_they_say(client, runs):
    assert {r["action"] for r in exported(client, "action=replicate")} == {"replicate"}
    assert {r["run_status"] for r in exported(client, "status=partial")} == {"partial"}
    assert {int(r["run_id"]) for r in exported(client, "from=2026-01-15&to=2026-01-15")} == {runs["tpsl"]}
    assert {int(r["run_id"]) for r in exported(client, "to=2026-01-11")} == {runs["replicate"]}
    assert exported(client, f"account={runs['alice']}&action=tpsl") == []


def test_the_page_links_the_export_with_its_filters(client, runs):
    html = client.get(f"/history?account={runs['alice']}&action=replicate&status=partial&from=2026-01-01"
                      f"&to=2026-01-31").get_data(as_text=True)
    link = re.search(r'id="csv-export" href="([^"]+)"', html) or re.search(r'href="([^"]+)"[^>]*id="csv-export"', html)
    assert link, "no export link"
    href = link.group(1).replace("&amp;", "&")
    for part in (f"account={runs['alice']}", "action=replicate", "status=partial", "from=2026-01-01", "to=2026-01-31"):
        assert part in href, href
    rows = exported(client, href.split("?", 1)[1])
    assert [(int(r["run_id"]), r["account"]) for r in rows] == [(runs["replicate"], "Alice")]
