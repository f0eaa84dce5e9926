"""Leak test: secrets and passphrases never appear in the database file, logs, pages, JSON or CLI output."""
from __future__ import annotations

import logging
import secrets
from pathlib import Path

from app.accounts import service
from tests.conftest import sim_account
from tests.reliability.helpers import TABLES, dump_db

PAGES = ["/", "/accounts/", "/accounts/new", "/history", "/history.csv", "/settings", "/healthz"]
API_GETS = ["/api/accounts", "/api/state", "/api/runs", "/api/equity", "/api/auto-follow"]


def make_marked_accounts(app, sim) -> tuple[list[str], list[int]]:
    markers, ids = [], []
    for role, name in (("master", "LeakMaster"), ("client", "LeakClient")):
        secret = f"SECRETMARK{secrets.token_hex(8)}"
        passphrase = f"PASSMARK{secrets.token_hex(6)}"
        creds = sim_account(sim, name, api_secret=secret, passphrase=passphrase)
        with app.app_context():
            account = service.create_account({"role": role, "name": name, "api_key": creds["api_key"],
                                              "api_secret": secret, "passphrase": passphrase})
            ids.append(account.id)
        markers += [secret, passphrase]
    return markers, ids


def test_no_secret_or_passphrase_leaks_anywhere(app, client, sim, caplog):
    caplog.set_level(logging.DEBUG)
    logging.getLogger("app").setLevel(logging.DEBUG)
    markers, ids = make_marked_accounts(app, sim)
    bodies: list[str] = []

    def grab(response) -> None:
        bodies.append(response.get_data(as_text=True))

    for account_id in ids:
        for path in (f"/accounts/{account_id}/edit", f"/accounts/{account_id}/delete", f"/api/accounts/{account_id}",
                     f"/api/accounts/{account_id}/balance", f"/api/accounts/{account_id}/positions"):
            grab(client.get(path))
        grab(client.post(f"/api/accounts/{account_id}/verify"))
        grab(client.post(f"/accounts/{account_id}/verify", follow_redirects=True))
        grab(client.patch(f"/api/accounts/{account_id}", json={"sizing_value": "2"}))
        grab(client.post(f"/accounts/{account_id}/edit", data={"name": f"Renamed{account_id}", "sizing_value": "1",
                                                                "sizing_mode": "equity_ratio", "loss_action": "close_only",
                                                                "below_min_rule": "skip", "round_up_max_factor": "2"},
                         follow_redirects=True))
    bot_token = f"123456:TOKENMARK{secrets.token_hex(10)}"
    markers.append(bot_token)
    grab(client.post("/settings", data={"TELEGRAM_BOT_TOKEN": bot_token, "TELEGRAM_CHAT_ID": "-1001",
                                        "event_run_summary": "on"}, follow_redirects=True))
    grab(client.get("/settings"))
    sim.exchange.trade("LeakMaster", action="open", symbol="BTCUSDT", side="long", size="0.01")
    for path, body in (("/api/replicate/preview", None), ("/api/replicate", None), ("/api/tpsl", None),
                       ("/api/close-symbol", {"symbol": "BTCUSDT", "confirm": True}),
                       ("/api/close-all", {"confirm": True}), ("/api/refresh", None),
                       (f"/api/sync/{ids[1]}", None), (f"/api/accounts/{ids[1]}/reset-loss", None),
                       ("/api/auto-follow", {"on": False})):
        grab(client.post(path, json=body) if body else client.post(path))
    for path in PAGES + API_GETS:
        grab(client.get(path))
    run_ids = [r["run_id"] for r in client.get("/api/runs").json["runs"]]
    for run_id in run_ids:
        grab(client.get(f"/api/runs/{run_id}"))
        grab(client.get(f"/runs/{run_id}"))
    runner = app.test_cli_runner()
    cli_output = runner.invoke(args=["accounts", "list"]).output
    cli_output += runner.invoke(args=["accounts", "verify", "LeakMaster"]).output
    cli_output += runner.invoke(args=["backup"]).output
    from app.engine.tasks import wait_for_background

    wait_for_background(app)

    log_file = Path(app.instance_path) / "logs" / "copier.log"
    haystacks = {
        "database": database_text(app),
        "log file": log_file.read_text(encoding="utf-8") if log_file.exists() else "",
        "captured logs": caplog.text,
        "responses": "\n".join(bodies),
        "cli": cli_output,
    }
    assert len(bodies) > 30
    for where, text in haystacks.items():
        for marker in markers:
            assert marker not in text, f"secret leaked into {where}"


def database_text(app) -> str:
    """Everything the database holds: SQLite's file bytes (free pages too), else every row of every table."""
    uri = str(app.config["SQLALCHEMY_DATABASE_URI"])
    if uri.startswith("sqlite:///"):
        return Path(uri.removeprefix("sqlite:///")).read_bytes().decode("latin-1")
    return repr(dump_db(app, (*TABLES, "order_intent")))
