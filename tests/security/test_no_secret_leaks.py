"""Secrets (API secrets, passphrases, the Telegram bot token) never reach a page, an API answer, a header, a
log line, a notification or the database in plaintext: every route of the URL map is walked, so a new route is
covered without editing this test."""
from __future__ import annotations

import logging
import secrets
from pathlib import Path

import pytest

from app import create_app
from app.accounts import service
from app.notify import notifier
from tests.conftest import app_config, operator_client, sim_account
from tests.reliability.helpers import BTC, Receiver, db_path

from .routes import WRITE_METHODS, body_for, routes

EVENTS_ON = {f"event_{e}": "1" for e in ("run_summary", "failures", "skips", "watchdog", "loss_protection")}


def caplog_exc(record: logging.LogRecord) -> str:
    return logging.Formatter().formatException(record.exc_info) if record.exc_info else ""


def mark(kind: str) -> str:
    return f"{kind}MARK{secrets.token_hex(8)}"


@pytest.fixture
def receiver():
    server = Receiver()
    yield server
    server.stop()


def write_body(endpoint: str, edit: dict, client_id: int, markers: list[str], hook: str) -> dict:
    """A body the route accepts; new credentials are marked secrets too."""
    if endpoint in ("accounts.edit", "api.update_account"):
        return edit
    if endpoint == "dashboard.settings":
        return {"WEBHOOK_URL": f"{hook}/hook", "TELEGRAM_CHAT_ID": "-100123", **EVENTS_ON}  # the token is kept
    body = body_for(endpoint, client_id)
    if endpoint in ("accounts.new", "api.create_account"):
        body = {**body, "api_secret": mark("ADDSECRET"), "passphrase": mark("ADDPASS"),
                "name": f"Added{len(markers)}"}
        markers += [body["api_secret"], body["passphrase"]]
    return body


def test_no_secret_leaks_from_any_route(tmp_path, sim, receiver, caplog):
    caplog.set_level(logging.DEBUG)
    app = create_app(app_config(tmp_path, sim.url, WEBHOOK_URL=f"{receiver.url}/hook", LOG_LEVEL="DEBUG",
                                TELEGRAM_API_URL=f"{receiver.url}/tg"))
    logging.getLogger("app").setLevel(logging.DEBUG)
    markers: list[str] = []
    ids: dict[str, int] = {}
    sim.exchange.set_price(BTC, "80000")
    for role, name, right in (("master", "LeakMaster", True), ("client", "LeakClient", True),
                              ("client", "LeakWrong", False)):
        secret, passphrase = mark("SECRET"), mark("PASS")
        creds = sim_account(sim, name, api_secret=secret, passphrase=passphrase)
        stored = passphrase if right else mark("WRONGPASS")  # a wrong passphrase is a secret too
        with app.app_context():
            ids[name] = service.create_account({"role": role, "name": name, "api_key": creds["api_key"],
                                                "api_secret": secret, "passphrase": stored}).id
        markers += [secret, passphrase, stored]
    bot_token = f"123456:TOKENMARK{secrets.token_hex(10)}"
    markers.append(bot_token)
    test_client = operator_client(app)
    assert test_client.post("/settings", data={"TELEGRAM_BOT_TOKEN": bot_token, "TELEGRAM_CHAT_ID": "-100123",
                                               "WEBHOOK_URL": f"{receiver.url}/hook", **EVENTS_ON}).status_code == 302
    sim.exchange.open_position("LeakMaster", BTC, "long", "0.1")
    assert test_client.post("/api/replicate").status_code == 200
    sim.exchange.set_tpsl("LeakMaster", BTC, "long", tp="90000", sl="70000")

    seen: list[str] = []

    def grab(answer) -> None:
        seen.append(answer.get_data(as_text=True))
        seen.append("\n".join(f"{k}: {v}" for k, v in answer.headers.items()))

    def run_ids() -> list[int]:
        return [r["run_id"] for r in test_client.get("/api/runs").json["runs"]]

    def walk_gets() -> int:
        gets = routes(app, {"GET"}, {"account_id": list(ids.values()), "run_id": run_ids()})
        for _, url, _ in gets:
            grab(test_client.get(url))
        return len(gets)

    assert walk_gets() >= 15
    edit = {"name": "LeakClient", "api_secret": mark("NEWSECRET"), "passphrase": mark("NEWPASS"),
            "sizing_mode": "equity_ratio", "sizing_value": "1", "loss_action": "close_only",
            "below_min_rule": "skip", "round_up_max_factor": "2"}
    markers += [edit["api_secret"], edit["passphrase"]]
    writes = [r for r in routes(app, WRITE_METHODS, {"account_id": list(ids.values())})
              if r[0] != "DELETE" and r[2] not in ("accounts.delete", "auth.logout", "auth.setup")]
    for method, url, endpoint in writes:
        body = write_body(endpoint, edit, ids["LeakClient"], markers, receiver.url)
        if url.startswith("/api/"):
            grab(test_client.open(url, method=method, json=body or None))
        else:
            grab(test_client.open(url, method=method, data=body, follow_redirects=True))
    assert len(writes) >= 25
    walk_gets()  # the pages again, now showing failures and changed accounts
    for method, url, endpoint in routes(app, {"DELETE", "POST"}, {"account_id": [ids["LeakWrong"]]}):
        if endpoint in ("api.delete_account", "auth.logout"):
            grab(test_client.open(url, method=method, follow_redirects=True))
    notifier(app).wait_idle(timeout=10)

    instance = Path(app.instance_path)
    haystacks = {
        "responses and headers": "\n".join(seen),
        # the copier's own records at every level, and anything from a library loud enough to be printed
        "captured log records": "\n".join(r.getMessage() + (caplog_exc(r)) for r in caplog.records
                                          if r.name.startswith("app") or r.levelno >= logging.WARNING),
        "log files": "\n".join(p.read_text("utf-8", "replace") for p in (instance / "logs").glob("*")),
        "database": "\n".join(p.read_bytes().decode("latin-1") for p in db_path(app).parent.glob(
            db_path(app).name + "*")),
        "notifications": "\n".join(r["raw"] for r in receiver.requests),
    }
    assert receiver.delivered("/hook") and receiver.delivered("/tg/"), "the notifications were not checked"
    for where, text in haystacks.items():
        for marker in markers:
            assert marker not in text, f"a secret ({marker[:12]}...) leaked into {where}"
    app.extensions["replication"].executor.shutdown()
