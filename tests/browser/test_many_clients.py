"""The clients table at 200 clients: renders fast, sticky header, filter and sort, live updates in place."""
from __future__ import annotations

import time
from decimal import Decimal

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import PASSWORD

pytestmark = pytest.mark.browser
CLIENTS = 200


@pytest.fixture(scope="module")
def crowd(live):
    """A master with a position and 200 clients whose balances the state cache already knows."""
    from app.accounts import service
    from app.feeds.refresh import refresh_accounts
    from app.store.extensions import db
    from app.store.models import Account

    app, ex = live.app, live.sim.exchange
    ex.open_position("Master", "BTCUSDT", "long", "0.1", leverage=10)
    creds = live.creds["Master"]
    with app.app_context():
        service.create_account({"role": "master", "name": "Master", "api_key": creds["api_key"],
                                "api_secret": creds["api_secret"], "passphrase": creds["passphrase"]})
        for i in range(CLIENTS):
            # keys that are never used: the cache below stands in for the poller's client refresh
            service.create_account({"role": "client", "name": f"client-{i:03d}", "api_key": f"key{i:04d}",
                                    "api_secret": "s" * 32, "passphrase": "p" * 12})
        ids = {a.name: a.id for a in db.session.query(Account).all()}
    refresh_accounts(app, [ids["Master"]])
    cache = app.extensions["state"]
    for i in range(CLIENTS):
        equity = Decimal(1000 + (i * 37) % 9000)
        cache.record_success(ids[f"client-{i:03d}"], equity=equity, available=equity, unrealized_pl=Decimal(0),
                             margin_used=Decimal(0), pos_mode="hedge_mode", positions=())
    return ids


def test_two_hundred_clients_stay_usable(page, live, crowd):
    page.goto(live.url + "/setup")
    page.fill("#password", PASSWORD)
    page.fill("#confirm", PASSWORD)
    started = time.monotonic()
    page.click("button[type=submit]")
    rows = page.locator("#clients-table tr.client-row")
    expect(rows).to_have_count(CLIENTS)
    assert time.monotonic() - started < 5
    expect(page.locator("#clients-count")).to_have_text(f"({CLIENTS})")
    expect(page.locator("#tot-note")).to_contain_text(f"{CLIENTS} clients")

    # the header stays visible while the table scrolls
    wrap = page.locator("#clients-wrap")
    wrap.evaluate("el => { el.scrollTop = el.scrollHeight; }")
    head = page.locator("#clients-table thead th").first.bounding_box()
    box = wrap.bounding_box()
    assert abs(head["y"] - box["y"]) < 2, (head, box)
    scrolled = wrap.evaluate("el => el.scrollTop")
    assert scrolled > 1000

    # a live refresh updates one row in place: same nodes, same scroll position, no reload
    row = page.locator(f"#clients-table tr.client-row[data-id='{crowd['client-150']}']")
    row.evaluate("el => { el.__marker = 'kept'; }")
    live.app.extensions["state"].update(crowd["client-150"], equity=Decimal("12345.67"))
    expect(row.locator("td.num").first).to_have_text("12,345.67", timeout=6000)
    assert row.evaluate("el => el.__marker") == "kept"
    assert page.evaluate("performance.getEntriesByType('navigation').length") == 1
    assert abs(wrap.evaluate("el => el.scrollTop") - scrolled) < 2

    # sort by equity (highest first), then filter
    page.locator("#clients-table th[data-sort=equity] button").click()
    expect(rows.first.locator(".client-name")).to_have_text("client-150")
    page.fill("#client-filter", "client-15")
    expect(rows).to_have_count(10)  # client-150 ... client-159
