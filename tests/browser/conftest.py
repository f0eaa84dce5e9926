"""Real-browser fixtures: the simulator, the copier served by a real HTTP server thread, Debian's chromium.

Everything runs on loopback; no browser is ever downloaded (Playwright drives /usr/bin/chromium).
"""
from __future__ import annotations

import os
import shutil
import socket
import threading
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet

CHROMIUM = os.environ.get("COPIER_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
PASSWORD = "operator-pass-123"
ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"


def pytest_collection_modifyitems(config, items):
    """Every test in this folder is a browser test; skip them all when chromium or Playwright is missing."""
    here = Path(__file__).parent
    missing = None
    if not Path(CHROMIUM).exists() and not shutil.which(CHROMIUM):
        missing = f"chromium not found at {CHROMIUM} (make test installs it with apt-get)"
    else:
        try:
            import playwright.sync_api  # noqa: F401
        except ImportError:
            missing = "playwright is not installed"
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.browser)
            if missing:
                item.add_marker(pytest.mark.skip(reason=missing))


def free_port() -> int:
    """A free loopback TCP port."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Live:
    """The running simulator and copier, plus the simulator credentials made for the scenario."""

    sim: Any
    app: Any
    url: str
    creds: dict[str, dict] = field(default_factory=dict)

    def positions(self, name: str) -> dict[tuple[str, str], Decimal]:
        """What an account holds on the simulator."""
        return {key: pos.size for key, pos in self.sim.exchange.account(name).positions.items()}


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    """Simulator (prices fixed) + copier (CSRF on, no scheduler) on a real threaded server."""
    from werkzeug.serving import make_server

    from app import create_app
    from app.sim.server import start_simulator

    sim = start_simulator(port=0, price_walk=False)
    ex = sim.exchange
    ex.set_price("BTCUSDT", "80000")
    ex.set_price("ETHUSDT", "3000")
    creds = {
        "Master": ex.create_account("Master", balance=Decimal("10000")),
        "Alpha": ex.create_account("Alpha", balance=Decimal("5000")),
        "Beta": ex.create_account("Beta", balance=Decimal("2500"), pos_mode="one_way_mode"),
        "Gamma": ex.create_account("Gamma", balance=Decimal("3000")),
    }
    instance = tmp_path_factory.mktemp("browser") / "instance"
    app = create_app({
        "TESTING": False, "INSTANCE_PATH": str(instance), "EXCHANGE": "bitget", "BITGET_BASE_URL": sim.url,
        "SCHEDULER_ENABLED": False, "SECRET_KEY": "x" * 32, "VAULT_KEY": Fernet.generate_key().decode(),
        "WTF_CSRF_ENABLED": True, "BITGET_IP_LIMIT_PER_MINUTE": 0, "EXECUTOR_MAX_WORKERS": 16,
        "LOGIN_MAX_FAILURES": 50,
        "TELEGRAM_API_URL": "http://127.0.0.1:9",  # the settings test stores a bot token: never the real API
    })
    port = free_port()
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="copier-http", daemon=True)
    thread.start()
    yield Live(sim=sim, app=app, url=f"http://127.0.0.1:{port}", creds=creds)
    server.shutdown()
    app.extensions["replication"].executor.shutdown()
    sim.stop()


@pytest.fixture(scope="session")
def browser():
    """One headless Debian chromium for the whole session."""
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=8_000)  # generous for a loaded CI machine; passing runs do not wait

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


class ConsoleWatch:
    """Collects console errors and page errors; CSP violations fail the test that caused them."""

    def __init__(self) -> None:
        self.messages: list[str] = []

    def attach(self, page) -> None:
        page.on("console", lambda msg: self.messages.append(f"console.{msg.type}: {msg.text}")
                if msg.type in ("error", "warning") else None)
        page.on("pageerror", lambda exc: self.messages.append(f"pageerror: {exc}"))

    def take(self) -> list[str]:
        out, self.messages = self.messages, []
        return out


@pytest.fixture(scope="module")
def context(browser, live):
    """One browser context (cookies = the operator's session) shared by a module's scenario."""
    ctx = browser.new_context(viewport={"width": 1440, "height": 900}, accept_downloads=True)
    ctx.set_default_timeout(10_000)
    yield ctx
    ctx.close()


@pytest.fixture(scope="module")
def watch():
    return ConsoleWatch()


@pytest.fixture(scope="module")
def page(context, watch):
    """The scenario's tab."""
    tab = context.new_page()
    watch.attach(tab)
    yield tab
    tab.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Remember each phase's report so fixtures can tell whether the test failed."""
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)


@pytest.fixture(autouse=True)
def no_csp_violations(request, tmp_path_factory):
    """After every browser test: no Content Security Policy violation and no uncaught script error.

    A failing test leaves a screenshot and the page's HTML in the pytest temp folder (path printed).
    """
    yield
    if "watch" not in request.fixturenames:
        return
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed and "page" in request.fixturenames:
        tab = request.getfixturevalue("page")
        folder = tmp_path_factory.mktemp("failure")
        try:
            tab.screenshot(path=str(folder / "page.png"), full_page=True)
            (folder / "page.html").write_text(tab.content(), encoding="utf-8")
            print(f"browser failure artefacts: {folder}")
        except Exception as exc:  # the page may be gone; the failure itself is what matters
            print(f"could not save the failure screenshot: {exc}")
    problems = request.getfixturevalue("watch").take()
    bad = [m for m in problems if "Content Security Policy" in m or m.startswith("pageerror")]
    assert not bad, "browser reported:\n" + "\n".join(bad)
