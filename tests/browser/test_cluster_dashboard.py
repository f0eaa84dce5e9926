"""The shards panel in a real browser with ENGINE=celery: real Redis and PostgreSQL, two shard workers as their
own processes (egress 127.0.0.2 and 127.0.0.3), the coordinator served on a real HTTP server.

Both shards show alive with their egress and two clients each, the client rows show the copies read by the
workers into the shared Redis cache, and a stopped worker turns its row "down" through the page's own polling.
"""
from __future__ import annotations

import os
import re
import threading

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import DOCS, PASSWORD, Live, free_port
from tests.browser.test_dashboard import client_row, shoot
from tests.cluster.test_cluster import BTC, EGRESS, Cluster

pytestmark = pytest.mark.browser
CLIENTS = ("A", "B", "C", "D")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory, redis_server, postgres_server):
    """Master + 4 clients on two shards, both workers up, the master's BTC long copied to every client."""
    made = Cluster(tmp_path_factory.mktemp("cluster"), redis_server, postgres_server)
    try:
        made.seed(CLIENTS, workers=(0, 1))
        made.sim.exchange.open_position("Master", BTC, "long", "0.1")
        report = made.replicate()
        assert sorted(r["status"] for r in report["results"]) == ["ok"] * 4, report["results"]
        yield made
    finally:
        made.stop()


@pytest.fixture(scope="module")
def live(cluster):
    """The coordinator app on a real threaded server (overrides conftest's `live`: `page` and `context` use it)."""
    from werkzeug.serving import make_server

    port = free_port()
    server = make_server("127.0.0.1", port, cluster.app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="copier-http", daemon=True)
    thread.start()
    try:
        yield Live(sim=cluster.sim, app=cluster.app, url=f"http://127.0.0.1:{port}")
    finally:
        server.shutdown()
        thread.join(10)


def test_the_shards_panel_shows_both_shards_then_one_down(page, live, cluster, watch, tmp_path):
    page.goto(live.url + "/setup")  # first run: the operator chooses the password and is logged in
    page.fill("#password", PASSWORD)
    page.fill("#confirm", PASSWORD)
    page.click("button[type=submit]")
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()

    rows = page.locator("#shards-rows tr")
    expect(rows).to_have_count(2)
    for shard, ip in EGRESS.items():
        cells = page.locator(f"#shards-rows tr[data-shard='{shard}'] td")
        expect(cells.nth(1)).to_have_text("alive")
        expect(cells.nth(3)).to_have_text("2")
        expect(cells.nth(4)).to_have_text(ip)
    status = page.locator("#shards-status")
    expect(status).to_have_text("2 shards, all alive")
    expect(page.locator("#shared-state-problem")).to_be_hidden()

    # the clients' views come from the shared Redis cache, written by the workers after their run
    for name in CLIENTS:
        row = client_row(page, name)
        expect(row.locator(".positions-count")).to_have_text("1", timeout=15_000)
        row.locator(".client-name").click()
        detail = page.locator(f"tr.detail-row[data-detail-for='{row.get_attribute('data-id')}']")
        expect(detail.locator("tr[data-symbol=BTCUSDT] td").nth(2)).to_have_text("0.05")
        expect(row.locator(".sync-chip")).to_have_text("in sync")
    for name in CLIENTS[1:]:  # one client left open for the picture
        client_row(page, name).locator(".client-name").click()
    expect(page.locator("tr.detail-row")).to_have_count(1)
    seen = [r for r in cluster.sim.stats.requests_since(0, cluster.sim.exchange.key_names()) if r["account"] in CLIENTS]
    assert seen and {r["ip"] for r in seen} <= set(EGRESS.values()), seen  # never read by the web process

    for shard in EGRESS:  # the next heartbeat (every 5 s) carries the run's requests in the shard's budget
        requests = page.locator(f"#shards-rows tr[data-shard='{shard}'] td").nth(5)
        expect(requests).to_have_text(re.compile(r"^[1-9]\d*$"), timeout=10_000)

    out = DOCS if os.environ.get("COPIER_UPDATE_DOCS") == "1" else tmp_path
    out.mkdir(exist_ok=True)
    shoot(page, out / "dashboard-cluster.png", 1440)

    cluster.workers[1].stop()
    # its last heartbeat stays in Redis until the TTL: the shard is down once that beat is older than TTL/2
    down = page.locator("#shards-rows tr[data-shard='1'] td")
    expect(down.nth(1)).to_have_text("down", timeout=30_000)
    expect(status).to_have_text("2 shards, 1 down")
    expect(status).to_have_class(re.compile(r"\bneg\b"))
    expect(page.locator("#shards-rows tr[data-shard='0'] td").nth(1)).to_have_text("alive")
    expect(down.nth(4)).to_have_text(EGRESS[1])  # the stale beat still says where it sent from

    errors = [m for m in watch.messages if m.startswith(("console.error", "pageerror"))]
    assert not errors, errors
