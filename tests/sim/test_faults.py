"""Fault injection: latency, 429, 5xx and "executed but the response was lost", set at start or at run time."""
from __future__ import annotations

import time

import pytest
import requests

from app.sim.faults import FaultInjector
from app.sim.server import start_simulator

from .conftest import PT, SignedClient

PLACE = "/api/v2/mix/order/place-order"
ORDER = {"symbol": "BTCUSDT", "productType": PT, "marginMode": "crossed", "marginCoin": "USDT",
         "orderType": "market", "side": "buy", "tradeSide": "open", "size": "0.01"}


def test_latency_adds_time(sim, client: SignedClient) -> None:
    started = time.perf_counter()
    client.get("/api/v2/mix/account/accounts", productType=PT)
    fast = time.perf_counter() - started
    sim.faults.configure({"": {"latency_ms": 150}})
    started = time.perf_counter()
    client.get("/api/v2/mix/account/accounts", productType=PT)
    assert time.perf_counter() - started >= 0.15 > fast


def test_p_429_answers_too_many_requests_without_executing(sim, client: SignedClient) -> None:
    sim.faults.configure({PLACE: {"p_429": 1}})
    response = client.request("POST", PLACE, body=ORDER)
    payload = response.json()
    assert response.status_code == 429 and (payload["code"], payload["msg"]) == ("429", "Too Many Requests")
    assert client.positions() == []  # other paths are untouched


def test_p_5xx_answers_a_server_error_without_executing(sim, client: SignedClient) -> None:
    sim.faults.configure({"/api/v2/mix/order/": {"p_5xx": 1}})
    statuses = {client.request("POST", PLACE, body=ORDER).status_code for _ in range(12)}
    assert statuses <= {500, 502, 503} and len(statuses) > 1
    assert client.positions() == []


def test_p_lost_executes_then_drops_the_connection(sim, client: SignedClient) -> None:
    sim.faults.configure({PLACE: {"p_lost": 1}})
    with pytest.raises(requests.ConnectionError):
        client.request("POST", PLACE, body={**ORDER, "clientOid": "lost-1"})
    assert client.position()["total"] == "0.01"  # the order really happened
    sim.faults.configure(None)
    assert client.order_error(side="buy", tradeSide="open", size="0.01", clientOid="lost-1") == (400, "40786")
    detail = client.get("/api/v2/mix/order/detail", symbol="BTCUSDT", productType=PT, clientOid="lost-1")
    assert detail["status"] == "filled"


def test_longer_prefix_wins_per_key(sim) -> None:
    faults = FaultInjector({"": {"latency_ms": 50, "p_429": 1}, PLACE: {"p_429": 0}})
    decision = faults.decide(PLACE)
    assert (decision.latency_ms, decision.status) == (50, None)
    assert faults.decide("/api/v2/mix/account/accounts").status == 429


def test_faults_are_seeded() -> None:
    first = FaultInjector({"": {"p_429": "0.5"}}, seed=7)
    second = FaultInjector({"": {"p_429": "0.5"}}, seed=7)
    assert [first.decide("/api").status for _ in range(50)] == [second.decide("/api").status for _ in range(50)]


def test_faults_given_at_start_and_changed_through_admin() -> None:
    server = start_simulator(port=0, price_walk=False, faults={PLACE: {"p_429": 1}})
    try:
        creds = server.exchange.create_account("Faulty")
        signed = SignedClient(server.url, creds)
        assert signed.request("POST", PLACE, body=ORDER).status_code == 429
        reply = requests.put(f"{server.url}/_sim/faults", json={"": {"latency_ms": 1}}, timeout=5)
        assert reply.json() == {"": {"latency_ms": 1}}
        assert signed.request("POST", PLACE, body=ORDER).status_code == 200
        bad = requests.put(f"{server.url}/_sim/faults", json={"": {"p_oops": 1}}, timeout=5)
        assert bad.status_code == 400
    finally:
        server.stop()
