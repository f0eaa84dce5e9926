"""Persistence round trip, the deterministic price walk, and thread safety under concurrent clients."""
from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal as D

from app.sim.exchange import Exchange
from app.sim.prices import PriceBook
from app.sim.server import start_simulator

from .conftest import PT, SignedClient


def test_state_survives_a_restart(tmp_path) -> None:
    path = tmp_path / "state" / "sim_state.json"
    first = start_simulator(port=0, price_walk=False, state_path=str(path))
    try:
        creds = first.exchange.create_account("Master", "10000", pos_mode="hedge_mode")
        signed = SignedClient(first.url, creds)
        signed.order(side="buy", tradeSide="open", size="0.01", clientOid="keep-1")
        signed.order(side="buy", tradeSide="open", size="0.01", orderType="limit", price="80000", clientOid="keep-2")
        first.exchange.set_tpsl("Master", "BTCUSDT", "long", tp="90000")
        first.exchange.set_price("ETHUSDT", "2345.67")
        before = signed.positions()
        equity = signed.account()["accountEquity"]
    finally:
        first.stop()
    saved = json.loads(path.read_text())
    assert saved["accounts"][0]["balance"] == str(first.exchange.account("Master").balance.normalize())
    assert not list(path.parent.glob("*.tmp"))
    second = start_simulator(port=0, price_walk=False, state_path=str(path))
    try:
        again = SignedClient(second.url, creds)  # same keys work after the restart
        after = again.positions()
        assert [(p["total"], p["openPriceAvg"], p["takeProfit"], p["takeProfitId"]) for p in after] == \
            [(p["total"], p["openPriceAvg"], p["takeProfit"], p["takeProfitId"]) for p in before]
        assert second.exchange.prices_snapshot()["ETHUSDT"] == "2345.67"
        pending = again.get("/api/v2/mix/order/orders-pending", productType=PT)["entrustedList"]
        assert [o["clientOid"] for o in pending] == ["keep-2"]
        assert again.order_error(side="buy", tradeSide="open", size="0.01", clientOid="keep-1") == (400, "40786")
        assert again.account()["accountEquity"] == equity
    finally:
        second.stop()


def test_saves_are_debounced_after_mutations(tmp_path) -> None:
    path = tmp_path / "s.json"
    server = start_simulator(port=0, price_walk=False, state_path=str(path))
    try:
        server.exchange.create_account("Late", "1")
        deadline = time.time() + 3
        while time.time() < deadline and not (path.exists() and "Late" in path.read_text()):
            time.sleep(0.05)
        assert "Late" in path.read_text()
    finally:
        server.stop()


def test_walk_is_deterministic_for_a_seed() -> None:
    def run(seed: int) -> list[dict[str, D]]:
        book = PriceBook(seed)
        return [book.step() for _ in range(200)]

    assert run(1) == run(1)
    assert run(1) != run(2)
    last = run(3)[-1]
    assert all(D("0.5") < last[s] / start < D("1.5") for s, start in PriceBook(3).prices.items())
    exchange = Exchange(5)
    for _ in range(50):
        exchange.tick()
    assert exchange.prices.prices == PriceBook(5).prices | run(5)[49]


def test_background_walk_moves_prices() -> None:
    server = start_simulator(port=0, price_walk=True, tick_seconds=0.01, seed=9)
    try:
        start = server.exchange.prices_snapshot()
        deadline = time.time() + 3
        while time.time() < deadline and server.exchange.prices_snapshot() == start:
            time.sleep(0.02)
        assert server.exchange.prices_snapshot() != start
    finally:
        server.stop()


def test_concurrent_clients_keep_the_books_consistent(sim, make_client) -> None:
    clients = [make_client(f"C{i}", "1000") for i in range(20)]

    def work(signed: SignedClient) -> None:
        for n in range(5):
            signed.order(side="buy", tradeSide="open", size="0.001", clientOid=f"w{n}")
        signed.order(side="buy", tradeSide="close", size="0.002")

    with ThreadPoolExecutor(max_workers=20) as pool:
        list(pool.map(work, clients))
    for i, signed in enumerate(clients):
        assert signed.position()["total"] == "0.003"
        assert len(sim.exchange.order_log_rows(account=f"C{i}")) == 6
    held = {(r["account"], r["maxSize"]) for r in sim.exchange.max_held_rows()}
    assert held == {(f"C{i}", "0.005") for i in range(20)}


def test_an_unreadable_state_file_is_moved_aside(tmp_path) -> None:
    path = tmp_path / "sim_state.json"
    path.write_text("{not json")
    server = start_simulator(port=0, price_walk=False, state_path=str(path))
    try:
        assert server.exchange.accounts == {}
        assert len(list(tmp_path.glob("sim_state.json.corrupt-*"))) == 1
    finally:
        server.stop()
    assert json.loads(path.read_text())["accounts"] == []
