"""What the dashboard claims about each client is true: sync states, drift lists, last run, sizing, precision.

One scenario on one simulator and one copier (the tests run in order): a master with three positions, five
clients (Alpha and Gamma hedge, Beta one-way, Delta with wrong keys, Epsilon with a 50 % slippage guard).
"""
from __future__ import annotations

import os
import re
import threading
import time
from decimal import Decimal
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import PASSWORD

pytestmark = pytest.mark.browser
BTC, ETH, SOL = "BTCUSDT", "ETHUSDT", "SOLUSDT"
CLIENTS = ("Alpha", "Beta", "Gamma", "Delta", "Epsilon")
SHOTS = os.environ.get("COPIER_SHOTS")


def client_row(page, name: str):
    """The clients-table row of a client."""
    return page.locator("#clients-table tr.client-row").filter(
        has=page.locator(".client-name", has_text=re.compile(f"^{name}$")))


def shot(page, name: str, *, full_page: bool = True) -> None:
    """Screenshots for reviewing the page by eye: saved only when COPIER_SHOTS names a folder."""
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SHOTS) / f"{name}.png"), full_page=full_page)


@pytest.fixture(scope="module")
def ids(live):
    """The copier's accounts (made through the service, as the form would), by name."""
    from app.accounts import service
    from app.store.extensions import db
    from app.store.models import Account

    ex = live.sim.exchange
    ex.set_price(SOL, "140")
    live.creds["Delta"] = ex.create_account("Delta", balance=Decimal("4000"))
    live.creds["Epsilon"] = ex.create_account("Epsilon", balance=Decimal("2000"))
    extra = {"Delta": {"api_secret": "0" * 64}, "Epsilon": {"slippage_pct": "50"}}
    with live.app.app_context():
        for name in ("Master", *CLIENTS):
            creds = live.creds[name]
            service.create_account({
                "role": "master" if name == "Master" else "client", "name": name, "api_key": creds["api_key"],
                "api_secret": creds["api_secret"], "passphrase": creds["passphrase"], **extra.get(name, {}),
            })
        return {a.name: a.id for a in db.session.query(Account).all()}


def state(page, live) -> dict:
    """The dashboard's state JSON, read with the tab's session."""
    answer = page.request.get(live.url + "/api/state")
    assert answer.ok, answer.text()
    return answer.json()


def row_of(data: dict, name: str) -> dict:
    return next(c for c in data["clients"] if c["name"] == name)


def post(page, live, path: str, body: dict | None = None) -> dict:
    """POST to the JSON API with the page's session and CSRF token."""
    token = page.locator("meta[name=csrf-token]").get_attribute("content")
    answer = page.request.post(live.url + path, data=body or {}, headers={"X-CSRFToken": token})
    assert answer.ok, answer.text()
    return answer.json()


def refresh(live) -> None:
    from app.feeds.refresh import refresh_accounts

    refresh_accounts(live.app)


# ----- drift ------------------------------------------------------------------------------------------
def test_drift_lists_every_operation_the_preview_lists(page, live, ids):
    ex = live.sim.exchange
    ex.open_position("Master", BTC, "long", "0.1", leverage=10)
    ex.open_position("Master", ETH, "short", "2", leverage=5)
    ex.open_position("Master", SOL, "long", "50", leverage=3, margin_mode="isolated")
    page.goto(live.url + "/setup")
    page.fill("#password", PASSWORD)
    page.fill("#confirm", PASSWORD)
    page.click("button[type=submit]")
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    refresh(live)

    preview = {r["account_name"]: r for r in post(page, live, "/api/replicate/preview")["results"]}
    planned = [o["reason"] for o in preview["Alpha"]["operations"]]
    assert len(planned) > 4, planned  # more than the four the row used to show
    alpha = row_of(state(page, live), "Alpha")
    assert alpha["sync"] == "drift"
    assert alpha["sync_items"] == planned
    assert alpha["sync_detail"] == "; ".join(planned)

    page.reload()
    cell = client_row(page, "Alpha").locator("td.sync-cell")
    expect(cell.locator(".sync-chip")).to_have_text("drift")
    expect(cell.locator("li")).to_have_count(len(planned))
    expect(cell.locator("li:visible")).to_have_count(3)
    more = cell.locator("details.sync-more > summary")
    expect(more).to_have_text(f"+{len(planned) - 3} more")
    more.click()
    expect(cell.locator("li:visible")).to_have_text(planned)  # every operation, in the plan's order
    expect(page.locator("tr.detail-row")).to_have_count(0)  # opening the list does not expand the row
    page.wait_for_timeout(2500)  # a live refresh later the list is still open
    expect(cell.locator("li:visible")).to_have_count(len(planned))
    shot(page, "drift")

    # the preview's labels are spaced: "set leverage · BTCUSDT long", not "set leverageBTCUSDT long"
    page.click("#btn-preview")
    dialog = page.locator("#dlg-preview")
    first = dialog.locator("tr", has_text="Alpha").locator("li").first
    expect(first).to_have_text(re.compile(r"^[a-z ]+ · [A-Z]+USDT (long|short)\b"))
    dialog.locator("#preview-cancel").click()
    expect(dialog).to_be_hidden()


def test_replicated_clients_are_in_sync_and_the_header_counts_each_state(page, live, ids):
    page.click("#btn-replicate")
    expect(page.locator("#results-meta")).to_contain_text("Replicate")
    refresh(live)
    data = state(page, live)
    assert {c["name"]: c["sync"] for c in data["clients"]} == {
        "Alpha": "in_sync", "Beta": "in_sync", "Gamma": "in_sync", "Delta": "error", "Epsilon": "in_sync"}
    assert data["sync_counts"] == {"in_sync": 4, "not_copied": 0, "drift": 0, "error": 1, "paused": 0,
                                   "disabled": 0, "unknown": 0}
    expect(page.locator("#sync-summary .chip")).to_have_text(["4 in sync", "0 not copied", "0 drift", "1 error"])


# ----- not copied -------------------------------------------------------------------------------------
def test_a_skipped_master_position_shows_not_copied_with_its_reason(page, live, ids):
    ex = live.sim.exchange
    ex.open_position("Master", ETH, "long", "1", leverage=5)  # the hedge master now holds both ETH sides
    refresh(live)
    post(page, live, f"/api/sync/{ids['Gamma']}")  # Gamma copies it at once
    ex.set_price(ETH, "3060")  # 2 % above the master's entry: beyond Alpha's 0.5 % slippage guard
    refresh(live)

    data = state(page, live)
    rows = {c["name"]: c for c in data["clients"]}
    assert {n: r["sync"] for n, r in rows.items()} == {
        "Alpha": "not_copied", "Beta": "not_copied", "Gamma": "in_sync", "Delta": "error", "Epsilon": "drift"}
    assert "slippage guard" in rows["Alpha"]["sync_detail"]
    assert rows["Alpha"]["sync_items"] and all(i.startswith("ETHUSDT long: ") for i in rows["Alpha"]["sync_items"])
    assert "one-way client can hold only one side of ETHUSDT" in rows["Beta"]["sync_detail"]
    assert any("open" in i and "ETHUSDT long" in i for i in rows["Epsilon"]["sync_items"])  # its wide guard lets it: drift
    assert data["sync_counts"] == {"in_sync": 1, "not_copied": 2, "drift": 1, "error": 1, "paused": 0,
                                   "disabled": 0, "unknown": 0}

    alpha = client_row(page, "Alpha")
    expect(alpha.locator(".sync-chip")).to_have_text("not copied")
    expect(alpha.locator("td.sync-cell")).to_contain_text("slippage guard")
    expect(client_row(page, "Gamma").locator(".sync-chip")).to_have_text("in sync")
    expect(page.locator("#sync-summary .chip")).to_have_text(["1 in sync", "2 not copied", "1 drift", "1 error"])
    color = "el => getComputedStyle(el).color"
    amber = page.evaluate("getComputedStyle(document.documentElement).getPropertyValue('--amber').trim()")
    chip = alpha.locator(".sync-chip")
    assert chip.evaluate(color) == page.evaluate(
        "c => { const d = document.createElement('div'); d.style.color = c; document.body.appendChild(d);"
        " const v = getComputedStyle(d).color; d.remove(); return v; }", amber)
    assert chip.evaluate(color) != client_row(page, "Gamma").locator(".sync-chip").evaluate(color)
    page.select_option("#sync-filter", "not_copied")
    expect(page.locator("#clients-table tr.client-row .client-name")).to_have_text(["Alpha", "Beta"])
    page.select_option("#sync-filter", "")
    shot(page, "not-copied")


# ----- sizing -----------------------------------------------------------------------------------------
def test_the_row_shows_the_sizing_factor_in_use(page, live, ids):
    page.goto(live.url + "/")
    from app.engine.replication.sizing import fmt_decimal
    from app.store.extensions import db
    from app.store.models import PositionLink

    cache = live.app.extensions["state"]
    live_ratio = cache.get(ids["Alpha"]).equity / cache.get(ids["Master"]).equity
    with live.app.app_context():
        frozen = {fmt_decimal(link.factor, 4) for link in db.session.query(PositionLink).filter_by(
            account_id=ids["Alpha"]).all()}
    assert len(frozen) == 1 and frozen != {"0.5"}  # sized from equity (incl. fees paid), frozen at the open
    alpha = row_of(state(page, live), "Alpha")
    now = alpha["sizing_now"]
    assert now["new_copies"] == fmt_decimal(live_ratio, 4)
    assert {c["factor"] for c in now["copies"]} == frozen
    assert "unrealized PnL" in now["explain"]
    sizing = client_row(page, "Alpha").locator(".sizing")
    expect(sizing).to_have_text(f"equity ratio {fmt_decimal(live_ratio, 4)} · open copies x{frozen.pop()}")
    expect(sizing).to_have_attribute("title", re.compile(r"master equity [\d.]+ \(incl\. its unrealized PnL\)"))


def test_the_account_form_explains_the_equity_ratio_and_shows_the_whole_mode(page, live, browser):
    page.goto(f"{live.url}/accounts/{live_id(live, 'Alpha')}/edit")
    check_select_fits(page)
    expect(page.locator("#sizing-hint")).to_contain_text("unrealized PnL")
    phone = browser.new_context(viewport={"width": 390, "height": 844}, storage_state=page.context.storage_state())
    try:
        tab = phone.new_page()
        tab.goto(f"{live.url}/accounts/new")
        check_select_fits(tab)
        shot(tab, "account-form-390")
    finally:
        phone.close()
    page.goto(live.url + "/")


def live_id(live, name: str) -> int:
    from app.store.extensions import db
    from app.store.models import Account

    with live.app.app_context():
        return db.session.query(Account).filter_by(name=name).one().id


def check_select_fits(tab) -> None:
    """Every option of the sizing-mode select fits in the box the select draws (nothing is cut off)."""
    fits = tab.locator("#sizing_mode").evaluate("""el => {
        const cs = getComputedStyle(el), ctx = document.createElement('canvas').getContext('2d');
        ctx.font = cs.font;
        const room = el.clientWidth - parseFloat(cs.paddingLeft) - parseFloat(cs.paddingRight) - 18;
        const box = el.getBoundingClientRect(), field = el.closest('fieldset').getBoundingClientRect();
        return {room, inside: box.right <= field.right + 0.5 && box.left >= field.left - 0.5,
                widest: Math.max(...[...el.options].map(o => ctx.measureText(o.text).width))};
    }""")
    assert fits["inside"] and fits["widest"] <= fits["room"], fits


# ----- precision and layout ---------------------------------------------------------------------------
def test_prices_and_sizes_at_the_contract_precision(page, live, ids):
    page.goto(live.url + "/")
    ex = live.sim.exchange
    ex.set_price(BTC, "80000.5")
    ex.open_position("Master", BTC, "long", "0.05")  # average entry 80000.1666...
    refresh(live)
    page.reload()
    data = state(page, live)
    raw = next(p for p in data["master"]["positions"] if p["symbol"] == BTC)["entry_price"]
    assert len(raw.split(".")[1]) > 1, raw
    assert data["precision"][BTC] == {"price": 1, "size": 4}
    row = page.locator("#master-positions tr[data-symbol=BTCUSDT]")
    cells = row.locator("td")
    expect(cells.nth(5)).to_have_text(f"{Decimal(raw).quantize(Decimal('0.1')):,}")
    expect(cells.nth(2)).to_have_text("0.15")
    expect(cells.nth(6)).to_have_text("80,000.5")
    expect(page.locator("#m-equity")).to_have_text(re.compile(r"^[\d,]+\.\d\dUSDT$"))
    expect(client_row(page, "Alpha").locator("td.num").first).to_have_text(re.compile(r"^[\d,]+\.\d\d$"))


def test_sparklines_keep_a_sensible_scale(page, live):
    spans = page.evaluate("""() => {
        const span = v => { const pts = CopierCharts.sparkline(v, 84, 22).querySelector('polyline')
            .getAttribute('points').split(' ').map(p => Number(p.split(',')[1]));
            return Math.max(...pts) - Math.min(...pts); };
        return {cents: span([5000, 5000.02, 4999.99, 5000.01]), move: span([5000, 5040, 5100, 5080])};
    }""")
    assert spans["cents"] < 1, spans  # a few cents on 5000 USDT: a flat line
    assert spans["move"] > 15, spans  # a 2 % move: the whole height


def controls_under_notices(tab) -> list[str]:
    """Visible controls that a notice overlaps (not counting those scrolled under the sticky toolbar anyway)."""
    return tab.evaluate("""() => {
        const box = document.getElementById('notices');
        const overlaps = (r, n) => r.left < n.right && r.right > n.left && r.top < n.bottom && r.bottom > n.top;
        const bars = [...document.querySelectorAll('.topbar, .actionbar')];
        const notes = [...box.querySelectorAll('.notice')].map(n => n.getBoundingClientRect())
            .filter(r => r.width && r.height);
        const out = [];
        for (const el of document.querySelectorAll('button, a[href], input, select, summary, label.switch')) {
            if (box.contains(el) || el.closest('dialog')) continue;
            const r = el.getBoundingClientRect();
            if (!r.width || !r.height || r.bottom < 0 || r.top > innerHeight) continue;
            if (bars.some(b => !b.contains(el) && overlaps(r, b.getBoundingClientRect()))) continue;
            for (const n of notes) {
                if (overlaps(r, n))
                    out.push((el.id || el.textContent.trim()).slice(0, 40) + ' @' + Math.round(scrollY));
            }
        }
        return out;
    }""")


def notices_never_cover_controls(tab, sticky: bool) -> None:
    for i in range(3):
        tab.evaluate("n => Copier.notify('Replicate: 4 ok, 0 skipped, 1 failed (123 ms). Notice number ' + n"
                     " + ' with a long enough text to fill a toast.', n === 1 ? 'error' : 'ok')", i)
    tab.mouse.move(1, 1)
    newest = tab.locator("#notices .notice").first
    expect(newest).to_be_visible()
    height = tab.evaluate("document.documentElement.scrollHeight - innerHeight")
    for y in (0, height // 3, 2 * height // 3, height):
        tab.evaluate("y => window.scrollTo(0, y)", y)
        tab.wait_for_timeout(50)
        assert controls_under_notices(tab) == []
        if sticky:
            box = newest.bounding_box()
            assert box and 0 <= box["y"] < tab.viewport_size["height"], box  # still in sight
    tab.evaluate("window.scrollTo(0, 0)")
    expect(newest).to_be_in_viewport()
    expect(tab.locator("#notices .notice:visible")).to_have_count(1)  # the newest; hovering it lists them all
    newest.hover()
    expect(tab.locator("#notices .notice:visible")).to_have_count(3)
    tab.mouse.move(1, 1)


def test_layout_at_1280_and_390(page, live, browser):
    page.set_viewport_size({"width": 1280, "height": 900})
    try:
        page.goto(live.url + "/")
        expect(page.locator("#master-positions tr[data-symbol=BTCUSDT]")).to_be_visible()
        notices_never_cover_controls(page, sticky=True)
        shot(page, "dashboard-1280")
    finally:
        page.evaluate("document.querySelectorAll('#notices .notice').forEach(n => n.remove())")
        page.set_viewport_size({"width": 1440, "height": 900})

    phone = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=2,
                                storage_state=page.context.storage_state())
    try:
        tab = phone.new_page()
        tab.goto(live.url + "/")
        expect(tab.locator("#master-positions tr[data-symbol=BTCUSDT]")).to_be_visible()
        assert tab.evaluate("document.documentElement.scrollWidth") <= 390
        # the top bar shows all of itself, with the simulator link of sim mode too: nothing cut at its edges
        tab.evaluate("""() => { const nav = document.querySelector('.topbar nav');
            if (!nav.querySelector('#sim-link')) { const a = document.createElement('a'); a.id = 'sim-link';
                a.href = '#'; a.textContent = 'Simulator ↗'; nav.appendChild(a); } }""")
        clipped = tab.evaluate("""() => {
            const bar = document.querySelector('.topbar').getBoundingClientRect();
            return [...document.querySelectorAll('.topbar a, .topbar button, .topbar .chip')]
                .filter(el => el.offsetParent !== null)
                .filter(el => { const r = el.getBoundingClientRect();
                    return r.left < -0.5 || r.right > innerWidth + 0.5 || r.top < bar.top - 0.5 || r.bottom > bar.bottom + 0.5; })
                .map(el => el.textContent.trim());
        }""")
        assert clipped == []
        assert tab.locator(".topbar nav").evaluate("el => el.scrollWidth <= el.clientWidth + 0.5")  # none hidden
        # a table wider than the phone says so: it fades at the side with more columns
        for table in ("#master-positions", "#clients-table"):
            wrap = tab.locator(table).locator("xpath=ancestor::div[contains(@class,'table-wrap')][1]")
            assert wrap.evaluate("el => el.scrollWidth > el.clientWidth")
            expect(wrap).to_have_class(re.compile(r"\bcan-scroll-right\b"))
            assert wrap.evaluate("el => getComputedStyle(el).maskImage || getComputedStyle(el).webkitMaskImage") != "none"
            wrap.evaluate("el => { el.scrollLeft = el.scrollWidth; }")
            expect(wrap).to_have_class(re.compile(r"\bcan-scroll-left\b"))
            expect(wrap).not_to_have_class(re.compile(r"\bcan-scroll-right\b"))
            wrap.evaluate("el => { el.scrollLeft = 0; }")
        shot(tab, "dashboard-390")
        shot(tab, "dashboard-390-top", full_page=False)
        notices_never_cover_controls(tab, sticky=False)
        shot(tab, "dashboard-390-notices", full_page=False)
    finally:
        phone.close()


# ----- last run -----------------------------------------------------------------------------------------
def test_close_all_results_stay_until_a_run_does_something(page, live, ids):
    from app.accounts import service
    from app.store.extensions import db
    from app.store.models import Run

    page.goto(live.url + "/")
    page.click("#btn-close-all")
    page.locator("#close-all-confirm").fill("CLOSE")
    page.locator("#close-all-go").click()
    expect(page.locator("#dlg-close-all")).to_be_hidden()
    expect(page.locator("#results-meta")).to_contain_text("Close all")
    with live.app.app_context():
        service.update_account(ids["Delta"], {"enabled": False})  # its wrong keys would fail a real run
        runs_before = db.session.query(Run).count()
    refresh(live)

    post(page, live, "/api/replicate/preview")  # a preview is not a run
    post(page, live, "/api/auto-follow", {"on": True})
    live.sim.faults.configure({"": {"latency_ms": 150}})  # poller passes long enough to be seen mid-way
    seen: list[tuple] = []
    done = threading.Event()

    def ticks():
        try:
            for _ in range(3):
                live.app.extensions["poller"].tick()
        finally:
            done.set()

    worker = threading.Thread(target=ticks)
    worker.start()
    try:
        while not done.is_set():
            data = state(page, live)
            seen.append((data["last_run"]["action"], data["last_run"]["status"],
                         {c["name"]: (c["last_result"] or {}).get("action") for c in data["clients"]}))
            time.sleep(0.05)
    finally:
        worker.join()
        live.sim.faults.configure({})
    assert len(seen) > 3
    assert {last for last, _, _ in seen} == {"close-all"}, seen  # never a poller pass still running
    assert all(set(per_client.values()) == {"close-all"} for _, _, per_client in seen), seen
    with live.app.app_context():
        assert db.session.query(Run).filter(Run.action != "preview").count() == runs_before  # passes discarded

    page.reload()
    page.wait_for_timeout(2500)
    expect(page.locator("#results-meta")).to_contain_text("Close all")
    for name in ("Alpha", "Beta", "Gamma", "Epsilon"):
        expect(client_row(page, name).locator("td.result-cell")).to_contain_text("Close all")
