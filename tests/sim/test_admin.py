"""The loopback-only admin API and the operator page."""
from __future__ import annotations

import re

import requests

from .conftest import PT, SignedClient


def admin(sim, method: str, path: str, **kw) -> requests.Response:
    return requests.request(method, f"{sim.url}/_sim{path}", timeout=5, **kw)


def test_non_loopback_callers_are_refused(sim) -> None:
    test_client = sim.app.test_client()
    outside = {"REMOTE_ADDR": "10.0.0.5"}
    for method, path in (("GET", "/_sim/"), ("GET", "/_sim/accounts"), ("POST", "/_sim/price"),
                         ("PUT", "/_sim/faults"), ("GET", "/_sim/static/sim.css")):
        assert test_client.open(path, method=method, environ_base=outside).status_code == 403
    assert test_client.get("/_sim/accounts", environ_base={"REMOTE_ADDR": "127.0.0.1"}).status_code == 200
    # the Bitget API itself is not loopback-restricted
    assert test_client.get("/api/v2/public/time", environ_base=outside).status_code == 200


def test_create_and_list_accounts(sim) -> None:
    reply = admin(sim, "POST", "/accounts", json={"name": "Client A", "balance": "2500", "pos_mode": "one_way_mode",
                                                  "demo": True})
    assert reply.status_code == 201
    created = reply.json()
    assert {"api_key", "api_secret", "passphrase"} <= set(created) and created["demo"] is True
    listed = admin(sim, "GET", "/accounts").json()
    assert [(a["name"], a["pos_mode"], a["equity"]) for a in listed] == [("Client A", "one_way_mode", "2500")]
    signed = SignedClient(sim.url, created)
    assert signed.get("/api/v2/mix/account/account", symbol="BTCUSDT", productType=PT, marginCoin="USDT")
    assert admin(sim, "POST", "/accounts", json={"name": "Client A"}).status_code == 409
    changed = admin(sim, "POST", "/accounts/Client A", json={"balance": "10", "read_only": True}).json()
    assert (changed["balance"], changed["read_only"]) == ("10", True)


def test_price_trade_orders_max_held_and_stats(sim, client: SignedClient) -> None:
    assert admin(sim, "POST", "/price", json={"symbol": "ETHUSDT", "price": "2500.004"}).json()["price"] == "2500"
    trade = {"account": "Master", "action": "open", "symbol": "BTCUSDT", "side": "long", "size": "0.05",
             "leverage": 10, "margin_mode": "isolated"}
    opened = admin(sim, "POST", "/trade", json=trade)
    assert opened.status_code == 200 and opened.json()["status"] == "filled"
    assert admin(sim, "POST", "/trade", json={"account": "Master", "action": "close", "symbol": "BTCUSDT", "side": "long", "size": "0.02"}).status_code == 200
    pos = client.position()
    assert (pos["total"], pos["leverage"], pos["marginMode"]) == ("0.03", "10", "isolated")
    tpsl = {"account": "Master", "action": "set_tpsl", "symbol": "BTCUSDT", "side": "long", "tp": "90000", "sl": "80000"}
    assert admin(sim, "POST", "/trade", json=tpsl).json() == {"pos_profit": "90000", "pos_loss": "80000"}
    assert client.position()["takeProfit"] == "90000"
    bad = admin(sim, "POST", "/trade", json={**trade, "size": "0.00001"})
    assert (bad.status_code, bad.json()["error"]["code"]) == (400, "45111")
    log = admin(sim, "GET", "/orders", params={"account": "Master"}).json()
    assert [(r["size"], r["positionSize"], r["tradeSide"]) for r in log] == [("0.05", "0.05", "open"), ("0.02", "0.03", "close")]
    held = admin(sim, "GET", "/max-held").json()
    assert held == [{"account": "Master", "symbol": "BTCUSDT", "holdSide": "long", "maxSize": "0.05"}]
    admin(sim, "POST", "/stats/reset")
    client.positions()
    client.positions()
    stats = admin(sim, "GET", "/stats").json()
    entry = stats["by_key"][client.creds["api_key"]]
    assert entry["account"] == "Master" and entry["paths"] == {"/api/v2/mix/position/all-position": 2}
    assert stats["total"] == 2 and stats["by_status"] == {"200": 2}
    admin(sim, "POST", "/orders/reset")
    assert admin(sim, "GET", "/orders").json() == []


def test_in_process_operations(sim) -> None:
    ex = sim.exchange
    ex.create_account("Master", "10000")
    ex.open_position("Master", "SOLUSDT", "short", "10", leverage=5)
    ex.set_tpsl("Master", "SOLUSDT", "short", tp="120", sl="150")
    assert {p["planType"]: p["triggerPrice"] for p in ex.plan_rows("Master")} == {"pos_profit": "120", "pos_loss": "150"}
    ex.set_tpsl("Master", "SOLUSDT", "short", sl="")
    assert [p["planType"] for p in ex.plan_rows("Master")] == ["pos_profit"]
    ex.set_price("SOLUSDT", "119")
    assert ex.account("Master").positions == {}


def test_page_shows_the_master_and_forms_need_the_token(sim) -> None:
    ex = sim.exchange
    ex.create_account("Client A", "1000")
    ex.create_account("Master", "10000")
    ex.open_position("Master", "BTCUSDT", "long", "0.01")
    ex.set_tpsl("Master", "BTCUSDT", "long", tp="90000")
    page = admin(sim, "GET", "/")
    assert page.status_code == 200 and "script" not in page.text.lower()
    assert '<option value="Master" selected>' in page.text and "90000" in page.text
    assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]
    token = re.search(r'name="token" value="([^"]+)"', page.text).group(1)
    form = {"account": "Master", "symbol": "ETHUSDT", "side": "short", "size": "1", "leverage": "5",
            "margin_mode": "isolated", "order_type": "market"}
    assert admin(sim, "POST", "/ui/open", data=form).status_code == 403
    done = admin(sim, "POST", "/ui/open", data={**form, "token": token}, allow_redirects=False)
    assert done.status_code == 303 and "msg=" in done.headers["Location"]
    pos = ex.account("Master").positions[("ETHUSDT", "short")]
    assert (str(pos.size), pos.leverage, pos.margin_mode) == ("1", 5, "isolated")
    failed = admin(sim, "POST", "/ui/close", data={"token": token, "account": "Master", "symbol": "XRPUSDT",
                                                   "side": "long"}, allow_redirects=False)
    assert "err=22002" in failed.headers["Location"]
    admin(sim, "POST", "/ui/close", data={"token": token, "account": "Master", "symbol": "ETHUSDT", "side": "short",
                                          "size": "0.4"})
    assert str(ex.account("Master").positions[("ETHUSDT", "short")].size) == "0.6"
    admin(sim, "POST", "/ui/price", data={"token": token, "account": "Master", "symbol": "BTCUSDT", "price": "91000"})
    assert ("BTCUSDT", "long") not in ex.account("Master").positions  # the TP fired
    assert admin(sim, "GET", "/static/sim.css").status_code == 200
