"""The operator's whole day in a real browser: first run, accounts, replicate, TP/SL, close-all, history.

The tests of this module are one scenario and run in order on one simulator, one copier and one tab.
"""
from __future__ import annotations

import csv
import io
import os
import re
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import DOCS, PASSWORD

pytestmark = pytest.mark.browser
BTC, ETH = "BTCUSDT", "ETHUSDT"


def client_row(page, name: str):
    """The clients-table row of a client."""
    return page.locator("#clients-table tr.client-row").filter(has=page.locator(".client-name", has_text=re.compile(f"^{name}$")))


def result_row(page, name: str):
    """The results-panel row of an account."""
    return page.locator("#results-table tbody tr").filter(has=page.locator("td.symbol", has_text=re.compile(f"^{name}$")))


def snap(page, name: str) -> None:
    """Extra screenshots for reviewing the pages: saved only when COPIER_SHOTS names a folder."""
    folder = os.environ.get("COPIER_SHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / f"{name}.png"), full_page=True)


def add_account(page, live, *, name: str, role: str = "client", sim_name: str | None = None, secret: str | None = None,
                button: str = "#save", added: bool = True):
    """Fill the account form like an operator (the keys are checked on #save; #save-unchecked stores them as they are)."""
    creds = live.creds[sim_name or name]
    page.goto(f"{live.url}/accounts/new?role={role}")
    page.select_option("#role", role)
    page.fill("#name", name)
    page.fill("#api_key", creds["api_key"])
    page.fill("#api_secret", secret or creds["api_secret"])
    page.fill("#passphrase", creds["passphrase"])
    page.click(button)
    if added:
        expect(page.locator(".flash").first).to_contain_text(f"Added {name}")


def verify(page, name: str):
    """Click Verify on an account's row; returns the row."""
    row = page.locator("#accounts-table tr", has_text=name)
    row.get_by_role("button", name="Verify").click()
    return page.locator("#accounts-table tr", has_text=name)


# ----- access ---------------------------------------------------------------------------------------
def test_first_run_asks_for_the_operator_password(page, live):
    page.goto(live.url + "/")
    expect(page).to_have_url(re.compile(r"/setup$"))
    expect(page.get_by_role("heading", name="Welcome")).to_be_visible()
    snap(page, "setup")
    page.fill("#password", PASSWORD)
    page.fill("#confirm", "something-else-1")
    page.click("button[type=submit]")
    expect(page.locator(".flash-error")).to_have_text("The two passwords differ.")
    page.fill("#password", PASSWORD)
    page.fill("#confirm", PASSWORD)
    page.click("button[type=submit]")
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    expect(page.locator("#master-positions")).to_contain_text("No master account yet")


def test_logout_then_login(page, live):
    page.click("#logout")
    expect(page).to_have_url(re.compile(r"/login"))
    page.fill("#password", "not-the-password")
    page.click("button[type=submit]")
    expect(page.locator(".flash-error")).to_have_text("Wrong password.")
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()


# ----- accounts ---------------------------------------------------------------------------------------
def test_add_accounts_and_verify_their_keys(page, live):
    add_account(page, live, name="Master", role="master")
    expect(verify(page, "Master").locator(".verify-cell")).to_contain_text("ok")

    add_account(page, live, name="Gamma", secret="0" * 64, added=False)  # a wrong secret: the signature cannot match
    expect(page.locator("#form-error")).to_contain_text(re.compile(r"signature.*secret.*Nothing was saved", re.IGNORECASE))
    add_account(page, live, name="Gamma", secret="0" * 64, button="#save-unchecked")  # stored anyway, unchecked
    expect(page.locator("#accounts-table tr", has_text="Gamma").locator(".verify-cell")).to_have_text("not verified")
    row = verify(page, "Gamma")
    expect(page.locator(".flash-error")).to_contain_text("Gamma:")
    expect(row.locator(".verify-cell .chip")).to_have_text("failed")
    expect(row.locator(".verify-cell")).to_contain_text(re.compile(r"signature.*secret", re.IGNORECASE))

    add_account(page, live, name="Alpha")
    expect(verify(page, "Alpha").locator(".verify-cell")).to_contain_text("keys work")
    expect(page.locator(".flash-ok")).to_contain_text("Alpha: equity 5000")
    add_account(page, live, name="Beta")
    expect(verify(page, "Beta").locator(".verify-cell")).to_contain_text("keys work")
    expect(page.locator(".flash-ok")).to_contain_text("one way mode")
    snap(page, "accounts")
    page.goto(f"{live.url}/accounts/new")
    snap(page, "account-form")


# ----- trading ----------------------------------------------------------------------------------------
def test_open_master_trades_on_the_simulator_page(page, live):
    page.goto(f"{live.sim.url}/_sim/?account=Master")
    form = page.locator("form[action$='/ui/open']")
    for symbol, side, size, leverage in ((BTC, "long", "0.1", "10"), (ETH, "short", "2", "5")):
        form.locator("select[name=symbol]").select_option(symbol)
        form.locator("select[name=side]").select_option(side)
        form.locator("input[name=size]").fill(size)
        form.locator("input[name=leverage]").fill(leverage)
        form.locator("button[type=submit]").click()
        expect(page.locator(".flash.ok")).to_contain_text(f"Opened {side} {size} {symbol}")
    assert live.positions("Master") == {(BTC, "long"): Decimal("0.1"), (ETH, "short"): Decimal("2")}


def test_replicate_copies_the_master_and_shows_each_client(page, live):
    page.goto(live.url + "/")
    page.click("#btn-refresh")
    master = page.locator("#master-positions tbody")
    expect(master.locator("tr[data-symbol=BTCUSDT] td.symbol")).to_have_text(BTC)
    expect(master.locator("tr[data-symbol=ETHUSDT]")).to_contain_text("short")
    expect(page.locator("#m-equity")).to_contain_text("USDT")

    button = page.locator("#btn-replicate")
    button.click()
    expect(page.locator("#results-meta")).to_contain_text("Replicate")
    expect(result_row(page, "Alpha").locator(".chip")).to_have_text("ok")
    expect(result_row(page, "Beta").locator(".chip")).to_have_text("ok")
    expect(result_row(page, "Alpha").locator(".order-id").first).to_be_visible()
    expect(result_row(page, "Alpha")).to_contain_text(re.compile(r"\d+ ms"))
    # the client whose keys are wrong fails with the exchange's reason, and failures are listed first
    failed = result_row(page, "Gamma")
    expect(failed.locator(".chip")).to_have_text("failed")
    expect(failed.locator("td.msg")).to_contain_text(re.compile(r"signature", re.IGNORECASE))
    expect(page.locator("#results-table tbody tr").first).to_have_class(re.compile("result-failed"))
    expect(button).to_be_enabled()
    expect(page.locator("#banners")).to_contain_text("Client Gamma: authentication failed")
    expect(page.locator("#updated-ago")).to_have_text(re.compile(r"^updated \d+s ago$"))
    expect(page.locator("#freshness")).to_have_class(re.compile("fresh"))

    assert live.positions("Alpha") == {(BTC, "long"): Decimal("0.05"), (ETH, "short"): Decimal("1")}
    assert live.positions("Beta") == {(BTC, "long"): Decimal("0.025"), (ETH, "short"): Decimal("0.5")}

    # expand Alpha: its positions appear in place (the live refresh keeps the row open)
    row = client_row(page, "Alpha")
    expect(row.locator(".positions-count")).to_have_text("2")
    row.locator(".client-name").click()
    detail = page.locator("tr.detail-row[data-detail-for]")
    expect(detail.locator("tr[data-symbol=BTCUSDT]")).to_contain_text("0.05")
    expect(detail.locator("tr[data-symbol=ETHUSDT]")).to_contain_text("short")
    expect(row.locator(".sync-chip")).to_have_text("in sync")
    expect(client_row(page, "Gamma").locator(".sync-chip")).to_have_text("error")
    page.wait_for_timeout(2500)  # one live refresh later the row is still expanded
    expect(detail.locator("tr[data-symbol=BTCUSDT]")).to_be_visible()


def test_copy_tpsl_to_clients(page, live):
    live.sim.exchange.trade("Master", "set_tpsl", symbol=BTC, side="long", tp="88000", sl="76000")
    page.click("#btn-refresh")
    expect(page.locator("#master-positions tr[data-symbol=BTCUSDT] td.tp")).to_have_text("88,000")
    page.click("#btn-tpsl")
    expect(page.locator("#results-meta")).to_contain_text("Copy TP/SL")
    expect(result_row(page, "Alpha").locator(".chip")).to_have_text("ok")
    alpha = page.locator("tr.detail-row tr[data-symbol=BTCUSDT]")
    expect(alpha.locator("td.tp")).to_have_text("88,000")
    expect(alpha.locator("td.sl")).to_have_text("76,000")
    plans = live.sim.exchange.account("Beta").plans
    assert sorted(p.trigger_price for p in plans.values()) == [Decimal("76000"), Decimal("88000")]


def test_preview_shows_the_plan_then_runs_it(page, live):
    live.sim.exchange.trade("Master", "open", symbol=BTC, side="long", size="0.1")
    page.click("#btn-preview")
    dialog = page.locator("#dlg-preview")
    expect(dialog).to_be_visible()
    alpha = dialog.locator("tr", has_text="Alpha")
    expect(alpha).to_contain_text(re.compile(r"open.*BTCUSDT long 0\.05"))
    # each operation names the setting behind it, and each client its settings for new copies
    expect(alpha.locator(".plan-setting").first).to_contain_text("from: size from the factor frozen when the copy")
    expect(alpha.locator(".plan-settings")).to_contain_text(re.compile(
        r"Settings for new copies: sizing equity ratio x 1 · leverage the master's.* · TP/SL the master's"))
    snap(page, "preview")
    assert live.positions("Alpha")[(BTC, "long")] == Decimal("0.05")  # nothing sent yet
    dialog.locator("#preview-run").click()
    expect(dialog).to_be_hidden()
    expect(result_row(page, "Alpha").locator(".chip")).to_have_text("ok")
    assert live.positions("Alpha")[(BTC, "long")] == Decimal("0.1")


def test_buttons_show_progress_block_double_clicks_and_explain_errors(page, live):
    calls = []

    def slow_busy(route):
        calls.append(route.request.post_data)
        page.wait_for_timeout(600)
        route.fulfill(status=409, content_type="application/json",
                      body='{"error": {"code": "already_running", "message": "replicate (poller) started 1s ago", "field": null}}')

    page.route("**/api/replicate", slow_busy)
    try:
        button = page.locator("#btn-replicate")
        button.click()
        expect(button).to_be_disabled()
        expect(button).to_have_text("Replicating…")
        expect(page.locator("#btn-close-all")).to_be_disabled()
        button.click(force=True)
        notice = page.locator("#notices .notice").first
        expect(notice).to_contain_text("Another run is in progress: replicate (poller) started 1s ago")
        expect(notice).not_to_contain_text("{")
        expect(button).to_be_enabled()
        expect(button).to_have_text("Replicate to clients")
        assert len(calls) == 1
    finally:
        page.unroute("**/api/replicate")


def test_screenshots_of_the_main_page(page, live, browser, tmp_path):
    # a test run must not modify the checkout: docs/ is rewritten only when asked (COPIER_UPDATE_DOCS=1)
    out = DOCS if os.environ.get("COPIER_UPDATE_DOCS") == "1" else tmp_path
    take_equity_history(live)
    page.reload()
    expect(page.locator("tr.detail-row")).to_have_count(1)  # Alpha stays expanded across a reload
    expect(page.locator("#equity-chart svg path.line-master")).to_have_count(1)
    expect(page.locator("#clients-table svg.spark").first).to_be_visible()
    out.mkdir(exist_ok=True)
    shoot(page, out / "dashboard.png", 1440)

    phone = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=2,
                                storage_state=page.context.storage_state())
    try:
        tab = phone.new_page()
        tab.goto(live.url + "/")
        expect(tab.locator("#master-positions tr[data-symbol=BTCUSDT]")).to_be_visible()
        # nothing overflows the phone's width except inside the scrolling tables
        assert tab.evaluate("document.documentElement.scrollWidth") <= 390
        shoot(tab, out / "dashboard-mobile.png", 390)
    finally:
        phone.close()


def shoot(tab, path, width: int) -> None:
    """Screenshot the whole page in one viewport (sticky bars would be painted mid-page by a full-page shot)."""
    old = tab.viewport_size
    height = tab.evaluate("document.documentElement.scrollHeight")
    tab.set_viewport_size({"width": width, "height": height})
    tab.wait_for_timeout(300)  # let the chart redraw at the new size
    tab.screenshot(path=str(path))
    tab.set_viewport_size(old)


def take_equity_history(live):
    """Real equity snapshots over the last hours while the prices move (backdated so the chart has a span)."""
    from app.feeds.refresh import refresh_accounts
    from app.feeds.snapshots import take_snapshots
    from app.store.extensions import db
    from app.store.models import Snapshot

    app, ex = live.app, live.sim.exchange
    steps = 24
    btc = [80000, 80400, 80900, 80600, 81200, 81800, 81500, 82100, 82600, 82200, 82900, 83400,
           83100, 83700, 84200, 83800, 84500, 85100, 84700, 85300, 85900, 85400, 86000, 86400]
    eth = [3000, 2990, 2975, 2980, 2962, 2950, 2957, 2940, 2925, 2933, 2915, 2900,
           2908, 2890, 2876, 2884, 2866, 2850, 2858, 2842, 2830, 2838, 2822, 2810]
    with app.app_context():
        for i in range(steps):
            ex.set_price(BTC, str(btc[i]))
            ex.set_price(ETH, str(eth[i]))
            refresh_accounts(app)
            before = db.session.query(db.func.max(Snapshot.id)).scalar() or 0
            take_snapshots(app)
            back = timedelta(minutes=15 * (steps - 1 - i))
            for snap in db.session.query(Snapshot).filter(Snapshot.id > before).all():
                snap.taken_at = snap.taken_at - back
            db.session.commit()


def test_sync_one_client(page, live):
    row = client_row(page, "Beta")
    row.locator(".sync-btn").click()
    expect(page.locator("#results-meta")).to_contain_text("Sync")
    expect(page.locator("#results-table tbody tr")).to_have_count(1)
    expect(result_row(page, "Beta")).to_contain_text("in sync")


def test_clients_table_sorts_and_filters(page, live):
    names = page.locator("#clients-table tr.client-row .client-name")
    page.locator("#clients-table th[data-sort=equity] button").click()
    expect(page.locator("#clients-table th[data-sort=equity]")).to_have_attribute("aria-sort", "descending")
    expect(names).to_have_text(["Alpha", "Beta", "Gamma"])  # Gamma was never read: unknown equity sorts last
    page.locator("#clients-table th[data-sort=equity] button").click()
    expect(page.locator("#clients-table th[data-sort=equity]")).to_have_attribute("aria-sort", "ascending")
    expect(names).to_have_text(["Beta", "Alpha", "Gamma"])
    page.fill("#client-filter", "bet")
    expect(names).to_have_text(["Beta"])
    page.fill("#client-filter", "")
    page.select_option("#sync-filter", "error")
    expect(names).to_have_text(["Gamma"])
    page.select_option("#sync-filter", "")
    page.locator("#clients-table th[data-sort=name] button").click()
    expect(names).to_have_text(["Alpha", "Beta", "Gamma"])


# ----- closing ----------------------------------------------------------------------------------------
def test_close_one_symbol_everywhere(page, live):
    row = page.locator("#master-positions tr[data-symbol=ETHUSDT]")
    row.get_by_role("button", name="Close everywhere").click()
    dialog = page.locator("#dlg-close-symbol")
    expect(dialog).to_contain_text("Close ETHUSDT everywhere")
    dialog.locator("#close-symbol-go").click()
    expect(dialog).to_be_hidden()
    expect(page.locator("#results-meta")).to_contain_text("Close ETHUSDT")
    for name in ("Master", "Alpha", "Beta"):
        assert (ETH, "short") not in live.positions(name)
        assert (BTC, "long") in live.positions(name)
    expect(page.locator("#master-positions tr[data-symbol=ETHUSDT]")).to_have_count(0)


def test_close_all_needs_the_typed_confirmation(page, live):
    page.click("#btn-close-all")
    dialog = page.locator("#dlg-close-all")
    expect(dialog).to_be_visible()
    go = dialog.locator("#close-all-go")
    expect(go).to_be_disabled()
    dialog.locator("#close-all-confirm").fill("close")
    expect(go).to_be_disabled()
    dialog.locator("#close-all-cancel").click()
    expect(dialog).to_be_hidden()
    assert live.positions("Master")  # cancelled: nothing closed

    toggle = page.locator("#auto-follow")
    page.locator("label.switch").click()  # auto-follow on: the emergency close must switch it off
    expect(toggle).to_be_checked()
    expect(page.locator("#notices")).to_contain_text("Auto-follow is on")
    live.sim.exchange.trade("Alpha", "open", symbol=BTC, side="long", size="0.001", order_type="limit", price="60000")
    page.click("#btn-close-all")
    dialog.locator("#close-all-confirm").fill("CLOSE")
    expect(go).to_be_enabled()
    snap(page, "close-all")
    go.click()
    expect(dialog).to_be_hidden()
    expect(page.locator("#results-meta")).to_contain_text("Close all")
    expect(result_row(page, "Master").locator(".chip")).to_have_text("ok")
    expect(result_row(page, "Alpha")).to_contain_text("flat, no open orders")
    expect(result_row(page, "Gamma").locator(".chip")).to_have_text("failed")
    for name in ("Master", "Alpha", "Beta"):
        assert live.positions(name) == {}, name
        assert not live.sim.exchange.account(name).live_orders, name
    expect(page.locator("#master-positions")).to_contain_text("The master has no open positions.")
    expect(client_row(page, "Alpha").locator(".positions-count")).to_have_text("0")

    notice = page.locator("#banners .banner[data-key=auto-follow-off]")
    expect(notice).to_contain_text(re.compile(r"Auto-follow was switched off by the emergency close \(close-all\) "
                                              r"at \d{4}-\d\d-\d\d \d\d:\d\d UTC; turn it on again deliberately\."))
    expect(toggle).not_to_be_checked()
    snap(page, "close-all-auto-follow-off")
    page.reload()
    expect(notice).to_be_visible()  # persisted, not just a toast
    page.locator("label.switch").click()  # the operator turns it on again, deliberately: the notice goes
    expect(toggle).to_be_checked()
    expect(notice).to_have_count(0)
    page.locator("label.switch").click()  # and off by hand: no emergency notice comes back
    expect(toggle).not_to_be_checked()
    page.reload()
    expect(notice).to_have_count(0)


# ----- history, settings, theme -------------------------------------------------------------------------
def test_history_lists_runs_filters_and_exports_csv(page, live):
    page.click("nav >> text=History")
    table = page.locator("#history-table tbody")
    for action in ("Replicate", "Copy TP/SL", "Sync", "Close all", "Close symbol"):
        expect(table).to_contain_text(action)
    page.select_option("#f-action", "close-all")
    page.click("#apply-filters")
    expect(page).to_have_url(re.compile(r"action=close-all"))
    expect(table.locator("tr")).to_have_count(1)
    expect(page.locator("#csv-export")).to_have_attribute("href", re.compile(r"/history\.csv\?.*action=close-all"))
    with page.expect_download() as info:
        page.click("#csv-export")
    rows = list(csv.DictReader(io.StringIO(open(info.value.path(), encoding="utf-8").read())))
    assert {r["action"] for r in rows} == {"close-all"}
    assert {r["account"] for r in rows} == {"Master", "Alpha", "Beta", "Gamma"}
    assert {r["status"] for r in rows if r["account"] == "Gamma"} == {"failed"}

    page.goto(live.url + "/history")
    snap(page, "history")
    table.locator("a", has_text="#").first.click()
    expect(page.locator("h1")).to_contain_text("Close all")
    snap(page, "run")
    expect(page.locator("#run-results tbody tr").first).to_contain_text("Gamma")  # failures first
    page.goto(live.url + "/runs/999999")
    expect(page.locator("h1")).to_have_text("Not found")


def test_settings_page(page, live):
    page.click("nav >> text=Settings")
    page.fill("#DISCORD_WEBHOOK_URL", "ftp://example.com/hook")
    page.click("#save-settings")
    expect(page.locator("#settings-error")).to_contain_text("Discord webhook URL must start with http:// or https://")
    page.fill("#DISCORD_WEBHOOK_URL", "")
    page.fill("#TELEGRAM_CHAT_ID", "-1001234567890")
    page.fill("#TELEGRAM_BOT_TOKEN", "123456:" + "A" * 30)
    page.uncheck("#event_skips")
    page.check("#auto_follow")
    page.click("#save-settings")
    expect(page.locator(".flash").first).to_have_text("Settings saved.")
    expect(page.locator("#token-stored")).to_have_text("stored")
    expect(page.locator("#TELEGRAM_BOT_TOKEN")).to_have_value("")
    expect(page.locator("#event_skips")).not_to_be_checked()
    expect(page.locator("#auto_follow")).to_be_checked()
    snap(page, "settings")
    page.goto(live.url + "/")
    expect(page.locator("#auto-follow")).to_be_checked()
    page.locator("label.switch").click()
    expect(page.locator("#notices")).to_contain_text("Auto-follow is off")
    page.reload()
    expect(page.locator("#auto-follow")).not_to_be_checked()


def test_theme_toggle_persists(page, live):
    html = page.locator("html")
    expect(html).to_have_attribute("data-theme", "dark")
    page.click("#theme-toggle")
    expect(html).to_have_attribute("data-theme", "light")
    page.reload()
    expect(html).to_have_attribute("data-theme", "light")
    snap(page, "dashboard-light")
    page.click("#theme-toggle")
    expect(html).to_have_attribute("data-theme", "dark")
