"""The simulator's private WebSocket v2 over real sockets: login as REFERENCE 13.2 says, subscribe acks and
the snapshot after them, a push on every change from any source, ping/pong, the idle and lifetime closes,
and the fault switches (delay, lose, drop, refuse logins)."""
from __future__ import annotations

import json
import time
from decimal import Decimal

import pytest
import requests
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from app.bitget.signing import sign_ws_login
from app.bitget.stream import login_message, subscribe_message

BTC = "BTCUSDT"


@pytest.fixture
def acc(sim):
    sim.exchange.set_price(BTC, "80000")
    return sim.exchange.create_account(name="M", balance=Decimal("10000"))


def recv(ws, timeout: float = 2.0) -> dict | str:
    text = ws.recv(timeout=timeout)
    return text if text == "pong" else json.loads(text)


def login(sim, acc, **changes):
    ws = connect(sim.ws_url)
    message = login_message(acc["api_key"], acc["api_secret"], acc["passphrase"], time.time())
    message["args"][0].update(changes)
    ws.send(json.dumps(message))
    return ws, recv(ws)


def subscribed(sim, acc, channels=("positions", "orders", "orders-algo", "account")):
    ws, answer = login(sim, acc)
    assert answer == {"event": "login", "code": 0}  # a number and no msg, as live captures show
    ws.send(json.dumps(subscribe_message(channels)))
    snapshots = {}
    for _ in range(2 * len(channels)):
        message = recv(ws)
        if message.get("event") == "subscribe":
            assert message["arg"]["channel"] in channels
        else:
            snapshots[message["arg"]["channel"]] = message
    assert set(snapshots) == set(channels)
    return ws, snapshots


def next_push(ws, channel: str, timeout: float = 2.0) -> dict:
    end = time.monotonic() + timeout
    while True:
        message = recv(ws, max(0.01, end - time.monotonic()))
        if isinstance(message, dict) and message.get("arg", {}).get("channel") == channel and "data" in message:
            return message


def test_login_signs_seconds_over_user_verify(sim, acc):
    ts = str(int(time.time()))
    assert sign_ws_login(acc["api_secret"], ts)  # the same helper the product uses
    ws, answer = login(sim, acc)
    assert answer == {"event": "login", "code": 0}
    ws.close()


@pytest.mark.parametrize("change, reason", [
    ({"sign": "AAAA"}, "Invalid sign"),
    ({"passphrase": "wrong"}, "Passphrase error"),
    ({"apiKey": "bg_unknown"}, "apiKey does not exist"),
    ({"timestamp": str(int(time.time() * 1000))}, "timestamp"),  # milliseconds: outside the 30 s window
    ({"timestamp": str(int(time.time()) - 60)}, "timestamp"),
])
def test_a_bad_login_answers_30005_and_closes(sim, acc, change, reason):
    ws, answer = login(sim, acc, **change)
    assert answer["event"] == "error" and answer["code"] == 30005 and reason in answer["msg"]
    with pytest.raises(ConnectionClosed):
        ws.recv(timeout=2)


def test_subscribe_before_login_is_refused_with_30004(sim, acc):
    ws = connect(sim.ws_url)
    ws.send(json.dumps(subscribe_message(("positions",))))
    assert recv(ws)["code"] == 30004
    ws.close()


def test_unknown_channel_answers_30001(sim, acc):
    ws, _ = login(sim, acc)
    ws.send(json.dumps({"op": "subscribe", "args": [{"instType": "USDT-FUTURES", "channel": "nope",
                                                     "instId": "default"}]}))
    assert recv(ws)["code"] == 30001
    ws.close()


def test_other_paths_are_not_found(sim):
    with pytest.raises(InvalidStatus) as caught:
        connect(sim.ws_url.replace("/v2/ws/private", "/v3/ws/private"))
    assert caught.value.response.status_code == 404


def test_a_snapshot_follows_each_ack_and_every_change_is_pushed(sim, acc):
    ws, snapshots = subscribed(sim, acc)
    assert snapshots["positions"]["data"] == [] and snapshots["positions"]["action"] == "snapshot"
    assert snapshots["account"]["data"][0]["usdtEquity"] == "10000"
    sim.exchange.open_position("M", BTC, "long", "0.1")  # the manual page's path
    row = next_push(ws, "positions")["data"][0]
    assert row["instId"] == BTC and row["total"] == "0.1" and isinstance(row["leverage"], int)
    assert "frozen" in row and "symbol" not in row
    sim.exchange.set_tpsl("M", BTC, "long", sl="70000")
    plan = next_push(ws, "orders-algo")["data"][0]
    assert plan["planType"] == "psl" and plan["status"] == "live" and plan["triggerPrice"] == "70000"
    sim.exchange.set_price(BTC, "69000")  # the stop fires: position gone, plan executed
    pushes = {}
    for channel in ("positions", "orders-algo"):
        pushes[channel] = next_push(ws, channel)
    assert pushes["positions"]["data"] == []  # the last close: an empty list
    assert pushes["orders-algo"]["data"][0]["status"] == "executed"
    ws.close()


def test_an_api_order_pushes_the_order_with_lower_case_reduce_only(sim, acc):
    from app.bitget.client import BitgetClient, Credentials

    ws, _ = subscribed(sim, acc, channels=("orders",))
    client = BitgetClient(Credentials(acc["api_key"], acc["api_secret"], acc["passphrase"]), sim.url)
    client.place_order(symbol=BTC, size=Decimal("0.01"), side="buy", trade_side="open", margin_mode="crossed",
                       client_oid="ws-test-1")
    rows = next_push(ws, "orders")["data"]
    row = next(r for r in rows if r["clientOid"] == "ws-test-1")
    assert row["status"] == "filled" and row["reduceOnly"] == "no" and row["accBaseVolume"] == "0.01"
    ws.close()


def test_ping_pong_and_the_idle_close(sim, acc):
    sim.ws.configure({"idle_timeout_s": 0.6})
    ws, _ = login(sim, acc)
    ws.send("ping")
    assert recv(ws) == "pong"
    time.sleep(1.5)  # no ping for longer than the idle timeout
    with pytest.raises(ConnectionClosed):
        ws.recv(timeout=1)


def test_connections_end_at_the_maximum_lifetime(sim, acc):
    sim.ws.configure({"max_lifetime_s": 0.5})
    ws, _ = login(sim, acc)
    ws.send("ping")
    assert recv(ws) == "pong"
    with pytest.raises(ConnectionClosed):
        ws.recv(timeout=3)


def test_faults_delay_lose_drop_and_refuse(sim, acc):
    ws, _ = subscribed(sim, acc, channels=("positions",))
    sim.ws.configure({"push_delay_ms": 300})
    started = time.monotonic()
    sim.exchange.open_position("M", BTC, "long", "0.1")
    next_push(ws, "positions")
    assert time.monotonic() - started >= 0.28
    sim.ws.configure({"push_delay_ms": 0, "lose_pushes": 1})
    sim.exchange.open_position("M", BTC, "long", "0.1")
    with pytest.raises(TimeoutError):
        next_push(ws, "positions", timeout=0.4)  # lost: no sequence number tells
    sim.exchange.open_position("M", BTC, "long", "0.1")
    assert next_push(ws, "positions")["data"][0]["total"] == "0.3"
    status = requests.post(sim.url + "/_sim/ws", json={"drop": True}, timeout=5).json()
    assert status["pushes_lost"] == 1
    with pytest.raises(ConnectionClosed):
        ws.recv(timeout=2)
    requests.post(sim.url + "/_sim/ws", json={"refuse_logins": True}, timeout=5)
    _, answer = login(sim, acc)
    assert answer["code"] == 30005
    bad = requests.post(sim.url + "/_sim/ws", json={"lose_pushes": -1}, timeout=5)
    assert bad.status_code == 400
    assert requests.get(sim.url + "/_sim/identity", timeout=5).json()["ws_url"] == sim.ws_url


def test_the_page_breaks_the_stream_on_purpose(sim, acc):
    page = requests.get(sim.url + "/_sim/", timeout=5).text
    assert 'id="ws-card"' in page and sim.ws_url in page
    token = sim.app.extensions["sim"].form_token
    ws, _ = login(sim, acc)
    answer = requests.post(sim.url + "/_sim/ui/ws", data={"token": token, "fault": "refuse"}, timeout=5)
    assert answer.ok and "logins refused" in answer.text
    with pytest.raises(ConnectionClosed):
        ws.recv(timeout=2)
    assert login(sim, acc)[1]["code"] == 30005
    requests.post(sim.url + "/_sim/ui/ws", data={"token": token, "fault": "accept"}, timeout=5)
    assert login(sim, acc)[1] == {"event": "login", "code": 0}
    assert requests.post(sim.url + "/_sim/ui/ws", data={"token": "bad", "fault": "drop"}, timeout=5).status_code == 403
