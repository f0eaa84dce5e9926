"""How well the copier copies, as the operator sees it: each client's realized PnL, return and gap to the
master over a chosen window; per-order fill price and slippage on the run page; what each run did in the
history; a chart of returns that does not jump when a client is added.

One scenario on one simulator and one copier (the tests run in order): a master and two clients (Alpha 5000,
Beta 2500 one-way) copy one BTC long, opened after the price moved 0.125 % and closed 1000 USDT higher.
"""
from __future__ import annotations

import os
import re
from datetime import timedelta
from decimal import Decimal

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import DOCS, PASSWORD

pytestmark = pytest.mark.browser
BTC = "BTCUSDT"


def client_row(page, name: str):
    """The clients-table row of a client."""
    return page.locator("#clients-table tr.client-row").filter(
        has=page.locator(".client-name", has_text=re.compile(f"^{name}$")))


def realized_of(live, name: str) -> Decimal:
    """Profit plus fees of every fill of an account on the simulator."""
    return sum((Decimal(r["profit"]) + sum(Decimal(f["totalFee"]) for f in r["feeDetail"])
                for r in live.sim.exchange.fill_rows(name)), start=Decimal(0))


def signed(amount: Decimal, unit: str = "") -> str:
    """How the page writes a signed amount: +12.34 / −12.34 (a real minus sign)."""
    text = f"{abs(amount):,.2f}{unit}"
    return ("+" if amount > 0 else "−" if amount < 0 else "") + text


@pytest.fixture(scope="module")
def ids(live):
    from app.accounts import service
    from app.store.extensions import db
    from app.store.models import Account

    with live.app.app_context():
        for name in ("Master", "Alpha", "Beta"):
            creds = live.creds[name]
            service.create_account({"role": "master" if name == "Master" else "client", "name": name,
                                    "api_key": creds["api_key"], "api_secret": creds["api_secret"],
                                    "passphrase": creds["passphrase"]})
        return {a.name: a.id for a in db.session.query(Account).all()}


@pytest.fixture(scope="module")
def runs(live, ids):
    """Open and close one copied position; returns the two run ids."""
    from app.engine.tasks import wait_for_background
    from app.feeds.refresh import refresh_accounts

    app, ex = live.app, live.sim.exchange
    service = app.extensions["replication"]
    refresh_accounts(app)  # tracking starts: today's window opens at these equities
    ex.open_position("Master", BTC, "long", "0.1", leverage=10)
    ex.set_price(BTC, "80100")  # the copies fill 0.125 % worse than the master's entry
    with app.app_context():  # auto-follow: the poller detects the new position and copies it
        from app.feeds.poller import set_auto_follow
        from app.store.extensions import db
        from app.store.models import Run

        set_auto_follow(True)
        app.extensions["poller"].tick()
        set_auto_follow(False)
        opened = db.session.query(Run.id).order_by(Run.id.desc()).scalar()
    wait_for_background(app)  # fill prices are measured after the run
    ex.set_price(BTC, "81100")
    ex.close_position("Master", BTC, "long")
    with app.app_context():
        closed = service.replicate("operator")["run_id"]
    wait_for_background(app)
    refresh_accounts(app)
    return {"opened": opened, "closed": closed}


def test_clients_show_realized_pnl_return_and_the_gap_to_the_master(page, live, runs):
    page.goto(live.url + "/setup")
    page.fill("#password", PASSWORD)
    page.fill("#confirm", PASSWORD)
    page.click("button[type=submit]")
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    alpha = client_row(page, "Alpha")
    realized = realized_of(live, "Alpha")
    assert Decimal("40") < realized < Decimal("51")  # +50.0 on 0.0499 BTC, less two taker fees
    expect(alpha.locator(".realized-cell")).to_have_text(signed(realized))
    alpha_pct = (realized / 5000 * 100).quantize(Decimal("0.01"))
    master_pct = (realized_of(live, "Master") / 10000 * 100).quantize(Decimal("0.01"))
    expect(alpha.locator(".return-cell")).to_contain_text(signed(alpha_pct, "%"))
    expect(alpha.locator(".gap-cell")).to_contain_text(signed(alpha_pct - master_pct, " pp"))
    expect(alpha.locator(".gap-cell .master-pct")).to_have_text("master " + signed(master_pct, "%"))
    expect(page.locator("#m-return")).to_have_text(signed(master_pct, "%"))
    expect(page.locator("#m-return-kpi .pnl-window-label")).to_have_text("today")

    page.select_option("#pnl-window", "all")  # since following: the same trades, so the same numbers
    expect(page.locator("#m-return-kpi .pnl-window-label")).to_have_text("since following")
    expect(alpha.locator(".return-cell")).to_contain_text(signed(alpha_pct, "%"))
    expect(alpha.locator(".return-cell")).to_have_attribute("title", re.compile(r"^since .* on 5,000\.00 USDT$"))
    page.reload()
    expect(page.locator("#pnl-window")).to_have_value("all")  # the choice is kept
    page.select_option("#pnl-window", "today")
    expect(page.locator("#tot-realized")).to_have_text(signed(realized + realized_of(live, "Beta")))


def test_the_chart_shows_returns_and_does_not_jump_when_a_client_is_added(page, live, ids):
    from app.store.extensions import db
    from app.store.models import Snapshot, utcnow

    start = utcnow() - timedelta(hours=3)
    equities = [  # Beta's 2500 join at the third point: a sum of equity would jump by a third
        {ids["Master"]: "10000", ids["Alpha"]: "5000"},
        {ids["Master"]: "10100", ids["Alpha"]: "5050"},
        {ids["Master"]: "10100", ids["Alpha"]: "5050", ids["Beta"]: "2500"},
        {ids["Master"]: "10200", ids["Alpha"]: "5100", ids["Beta"]: "2525"},
    ]
    with live.app.app_context():
        for i, row in enumerate(equities):
            for account_id, equity in row.items():
                db.session.add(Snapshot(account_id=account_id, taken_at=start + timedelta(minutes=30 * i),
                                        equity=Decimal(equity)))
        db.session.commit()
    page.reload()
    chart = page.locator("#equity-chart")
    expect(chart.locator("svg path.line-clients")).to_have_count(1)
    expect(chart.locator("svg .axis text").first).to_have_text(re.compile(r"%$"))
    points = page.evaluate("""() => { const d = document.querySelector('#equity-chart path.line-clients')
        .getAttribute('d'); return d.slice(1).split('L').map(p => Number(p.split(',')[1])); }""")
    assert len(points) == 4 and points[1] == points[2]  # flat where Beta joined: no jump
    expect(page.locator("#equity-title")).to_have_text("Return")


def test_the_run_page_shows_each_orders_fill_master_price_slippage_and_timing(page, live, runs):
    page.goto(f"{live.url}/runs/{runs['opened']}")
    expect(page.locator("#run-what")).to_have_text("open BTCUSDT long on 2 clients")
    row = page.locator("#run-orders tbody tr").filter(has=page.locator("td.symbol", has_text=re.compile("^Alpha$")))
    expect(row.locator(".master-price")).to_have_text("80000")
    expect(row.locator(".fill-price")).to_have_text("80100")
    expect(row.locator(".slippage-pct")).to_have_text("0.125 %")
    expect(row.locator(".slippage-usdt")).to_have_text("4.9900")  # 100 USDT worse on 0.0499 BTC
    expect(row.locator(".ack-ms")).to_have_text(re.compile(r"^\d+ ms$"))
    detect, ack, total = (int(row.locator(c).inner_text().removesuffix(" ms"))
                          for c in (".detect-ms", ".ack-ms", ".detect-ack-ms"))
    assert detect + ack == total
    if os.environ.get("COPIER_UPDATE_DOCS") == "1":
        page.set_viewport_size({"width": 1440, "height": 760})
        page.screenshot(path=str(DOCS / "run.png"), full_page=True)
        page.set_viewport_size({"width": 1440, "height": 900})


def test_the_history_says_what_each_run_did_and_previews_are_not_runs(page, live, runs):
    page.goto(live.url + "/")
    page.click("#btn-preview")
    expect(page.locator("#dlg-preview")).to_be_visible()
    page.click("#preview-cancel")
    page.goto(live.url + "/history")
    table = page.locator("#history-table tbody")
    expect(table.locator(f"tr[data-run-id='{runs['opened']}'] .run-summary")).to_have_text(
        "open BTCUSDT long on 2 clients")
    expect(table.locator(f"tr[data-run-id='{runs['closed']}'] .run-summary")).to_have_text(
        "close BTCUSDT long on 2 clients")
    expect(table.locator("tr")).to_have_count(2)  # the preview is not a run
    expect(page.locator("#f-action option[value=preview]")).to_have_count(0)
