"""Copy quality on the pages: per-order fill price, master's price, slippage (% and USDT) and timings on the
run page; what each run did in the history list; previews are not runs; the chart shows returns, not sums."""
from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal as D

from app.engine.tasks import wait_for_background
from app.feeds.snapshots import equity_series
from app.store.extensions import db
from app.store.models import Run, Snapshot, utcnow
from tests.conftest import add_account
from tests.replication.test_service_sim import BTC, held


def cells(html: str, row_marker: str) -> list[str]:
    """The text of each cell of the first table row containing `row_marker`."""
    row = next(r for r in re.findall(r"<tr[^>]*>.*?</tr>", html, re.S) if row_marker in r)
    return [re.sub(r"<[^>]+>|\s+", " ", c).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]


def test_the_run_page_shows_fill_master_price_slippage_and_timings_per_order(app, client, sim):
    sim.exchange.set_price(BTC, "80000")
    add_account(app, sim, "Master", role="master", balance="10000")
    add_account(app, sim, "A", balance="5000")
    sim.exchange.open_position("Master", BTC, "long", "0.1", leverage=10)
    sim.exchange.set_price(BTC, "80100")  # the copy fills 0.125 % worse than the master's entry
    report = client.post("/api/replicate").json
    assert held(sim, "A") == {(BTC, "long"): D("0.0499")}  # sized on the master's equity with its +10 uPnL
    assert wait_for_background(app)  # the fill price is measured after the run
    order_id = report["results"][0]["orders"][0]["order_id"]
    html = client.get(f"/runs/{report['run_id']}").get_data(as_text=True)
    row = cells(html, f'data-order-id="{order_id}"')
    assert row[0] == "A" and row[2:5] == [BTC, "long", "0.0499"]
    assert row[5] == "80000" and row[6] == "80100"  # master's price, fill price
    assert row[7] == "0.125 %" and row[8] == "4.9900"  # 100 USDT worse on 0.0499 BTC
    assert re.fullmatch(r"\d+ ms", row[10])  # submit to ack
    assert "open BTCUSDT long on 1 client" in html


def test_the_history_says_what_each_run_did_and_lists_no_preview(app, client, sim):
    sim.exchange.set_price(BTC, "80000")
    add_account(app, sim, "Master", role="master", balance="10000")
    add_account(app, sim, "A", balance="5000")
    add_account(app, sim, "B", balance="5000")
    sim.exchange.open_position("Master", BTC, "long", "0.1", leverage=10)
    opened = client.post("/api/replicate").json["run_id"]
    again = client.post("/api/replicate").json["run_id"]  # nothing to do
    with app.app_context():
        before = db.session.query(Run).count()
    preview = client.post("/api/replicate/preview").json
    assert preview["run_id"] is None and preview["results"]
    closed = client.post("/api/close-all", json={"confirm": True}).json["run_id"]
    with app.app_context():
        assert db.session.query(Run).count() == before + 1  # the preview was not stored
    html = client.get("/history").get_data(as_text=True)
    assert cells(html, f'data-run-id="{opened}"')[3] == "open BTCUSDT long on 2 clients"
    assert cells(html, f'data-run-id="{again}"')[3] == "nothing sent: 2 in sync"
    assert cells(html, f'data-run-id="{closed}"')[3] == "close-all: 3 accounts flat"
    assert "Preview" not in html
    runs = client.get("/api/runs").json["runs"]
    assert {r["action"] for r in runs} == {"replicate", "close-all"}
    assert next(r for r in runs if r["run_id"] == opened)["summary"] == "open BTCUSDT long on 2 clients"


def test_the_chart_shows_returns_that_do_not_jump_when_a_client_is_added(app, sim):
    master = add_account(app, sim, "Master", role="master")
    alpha = add_account(app, sim, "Alpha")
    beta = add_account(app, sim, "Beta")
    start = utcnow() - timedelta(hours=2)
    points = {  # minute -> equities; Beta (50 000 USDT) is added at the third point
        0: {master: "10000", alpha: "5000"},
        1: {master: "10100", alpha: "5050"},
        2: {master: "10100", alpha: "5050", beta: "50000"},
        3: {master: "10201", alpha: "5100.5", beta: "50500"},
    }
    with app.app_context():
        for minute, equities in points.items():
            for account_id, equity in equities.items():
                db.session.add(Snapshot(account_id=account_id, taken_at=start + timedelta(minutes=minute),
                                        equity=D(equity)))
        db.session.commit()
        series = equity_series()
    lines = series["lines"]
    assert [p["master"] for p in lines] == ["0.0000", "1.0000", "1.0000", "2.0100"]
    # the sum of client equity jumps from 5050 to 55050 here; the clients' line does not move
    assert [p["clients"] for p in lines] == ["0.0000", "1.0000", "1.0000", "2.0100"]
    assert series["returns"][str(beta)] == [[lines[2]["t"], "0.0000"], [lines[3]["t"], "1.0000"]]
    assert "total" not in series
