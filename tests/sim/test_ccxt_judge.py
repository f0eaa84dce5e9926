"""A third-party client as the judge: ccxt's `bitget` driver, default options, against the simulator.

Only the `urls['api']` entries are pointed at the simulator. Every request ccxt makes goes through `fetch`, which
is wrapped to refuse (and fail the test for) any URL that is not on the simulator's loopback address.
"""
from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import ccxt  # a test dependency (requirements-test.txt): missing means the judge cannot sit, so fail
import pytest

from app.sim.server import SimServer, start_simulator

BTC = "BTC/USDT:USDT"
SOL = "SOL/USDT:USDT"


class LeftLoopback(AssertionError):
    """ccxt tried to reach a host other than the simulator."""


def judge(sim: SimServer, creds: dict[str, Any] | None = None, markets: Any = None) -> Any:
    """A ccxt bitget instance with default options whose API URLs are the simulator's; records every URL."""
    config = {}
    if creds is not None:
        config = {"apiKey": creds["api_key"], "secret": creds["api_secret"], "password": creds["passphrase"]}
    exchange = ccxt.bitget(config)
    for key in exchange.urls["api"]:
        exchange.urls["api"][key] = sim.url
    exchange.seen = []
    send = exchange.fetch

    def fetch(url: str, method: str = "GET", headers: Any = None, body: Any = None) -> Any:
        exchange.seen.append((method, url))
        if not url.startswith(sim.url + "/"):
            raise LeftLoopback(f"ccxt requested {url} (not the simulator at {sim.url})")
        return send(url, method, headers, body)

    exchange.fetch = fetch
    if markets is not None:
        exchange.set_markets(*markets)
    return exchange


@pytest.fixture(scope="module")
def server() -> Iterator[SimServer]:
    srv = start_simulator(port=0, price_walk=False)
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def loaded(server: SimServer) -> Any:
    """Markets and currencies as ccxt loaded them once (with keys, so its account probes ran too)."""
    creds = server.exchange.create_account("Loader", "10")
    exchange = judge(server, creds)
    exchange.load_markets()
    return exchange


@pytest.fixture
def sim(server: SimServer, loaded: Any) -> SimServer:
    server.exchange.reset()
    server.exchange.variants.reset()
    server.stats.reset()
    server.exchange.set_price("BTCUSDT", "80000")
    return server


@pytest.fixture
def make(sim: SimServer, loaded: Any):
    """make(pos_mode='hedge_mode', balance='10000') -> ccxt instance for a new account, markets preloaded."""
    made = []

    def build(pos_mode: str = "hedge_mode", balance: str = "10000", name: str | None = None) -> Any:
        creds = sim.exchange.create_account(name or f"acc{len(made)}", balance, pos_mode=pos_mode)
        exchange = judge(sim, creds, (loaded.markets, loaded.currencies))
        made.append(exchange)
        return exchange

    yield build
    for exchange in made:
        assert all(url.startswith(sim.url + "/") for _, url in exchange.seen), exchange.seen


def test_every_api_url_is_the_simulator_and_load_markets_stays_on_loopback(sim, loaded):
    assert set(loaded.urls["api"].values()) == {sim.url} and sim.url.startswith("http://127.0.0.1:")
    assert loaded.seen and all(url.startswith(sim.url + "/") for _, url in loaded.seen)
    paths = {url.split("?")[0].removeprefix(sim.url) for _, url in loaded.seen}
    assert {"/api/v2/spot/public/symbols", "/api/v2/margin/currencies", "/api/v2/mix/market/contracts"} <= paths
    fresh = judge(sim)
    with pytest.raises(LeftLoopback):
        fresh.fetch("https://api.bitget.com/api/v2/public/time")


def test_time(sim, make):
    exchange = make()
    assert abs(exchange.fetch_time() - exchange.milliseconds()) < 5000


def test_markets(sim, loaded):
    markets = loaded.markets
    btc = markets[BTC]
    assert (btc["type"], btc["swap"], btc["linear"], btc["settle"], btc["active"]) == ("swap", True, True, "USDT", True)
    assert (btc["precision"]["amount"], btc["precision"]["price"]) == (0.0001, 0.1)
    assert btc["limits"]["amount"]["min"] == 0.0001 and btc["limits"]["leverage"]["max"] == 125
    assert markets[SOL]["precision"]["price"] == 0.005  # priceEndStep 5
    assert {m["symbol"] for m in markets.values() if m["swap"]} == {BTC, "ETH/USDT:USDT", SOL, "XRP/USDT:USDT"}
    assert "BTC/USDT" in markets and markets["BTC/USDT"]["spot"]
    assert "USDT" in loaded.currencies


def test_ticker(sim, make):
    ticker = make().fetch_ticker(BTC)
    assert ticker["symbol"] == BTC and ticker["last"] == 80000


def test_balance(sim, make):
    balance = make(balance="1234.5").fetch_balance({"type": "swap"})
    assert balance["USDT"]["total"] == 1234.5 and balance["USDT"]["free"] == 1234.5


def test_one_way_open_and_reduce_only_close(sim, make):
    exchange = make("one_way_mode")
    order = exchange.create_order(BTC, "market", "buy", 0.01)
    assert order["id"]
    (position,) = exchange.fetch_positions([BTC])
    assert (position["side"], position["contracts"], position["hedged"]) == ("long", 0.01, False)
    exchange.create_order(BTC, "market", "sell", 0.01, params={"reduceOnly": True})
    assert exchange.fetch_positions([BTC]) == []
    assert sim.exchange.account("acc0").positions == {}


def test_hedge_open_and_close(sim, make):
    exchange = make("hedge_mode")
    exchange.create_order(BTC, "market", "buy", 0.02, params={"hedged": True})
    exchange.create_order(BTC, "market", "sell", 0.01, params={"hedged": True})
    sides = {p["side"]: p["contracts"] for p in exchange.fetch_positions([BTC])}
    assert sides == {"long": 0.02, "short": 0.01}
    exchange.create_order(BTC, "market", "sell", 0.02, params={"hedged": True, "reduceOnly": True})
    assert {p["side"] for p in exchange.fetch_positions([BTC])} == {"short"}


def test_positions_parsing(sim, make):
    exchange = make()
    exchange.set_margin_mode("isolated", BTC)
    exchange.set_leverage(10, BTC, params={"holdSide": "long"})
    exchange.create_order(BTC, "market", "buy", 0.05, params={"hedged": True, "marginMode": "isolated"})
    sim.exchange.set_price("BTCUSDT", "81000")
    (position,) = exchange.fetch_positions()
    assert position["symbol"] == BTC and position["marginMode"] == "isolated" and position["leverage"] == 10
    assert position["entryPrice"] == 80000 and position["markPrice"] == 81000
    assert position["unrealizedPnl"] == pytest.approx(50) and position["hedged"] is True
    assert position["notional"] == pytest.approx(4050)


def test_single_position(sim, make):
    exchange = make()
    exchange.create_order(BTC, "market", "sell", 0.01, params={"hedged": True})
    position = exchange.fetch_position(BTC)
    assert (position["symbol"], position["side"], position["contracts"]) == (BTC, "short", 0.01)


def test_tpsl_place_list_cancel(sim, make):
    exchange = make()
    exchange.create_order(BTC, "market", "buy", 0.01, params={"hedged": True})
    sl = exchange.create_order(BTC, "market", "sell", 0.01, params={"stopLossPrice": 75000, "hedged": True})
    exchange.create_order(BTC, "market", "sell", 0.01, params={"takeProfitPrice": 90000, "hedged": True})
    plans = exchange.fetch_open_orders(BTC, params={"planType": "profit_loss"})
    assert sorted(float(p["info"]["triggerPrice"]) for p in plans) == [75000, 90000]
    position = exchange.fetch_position(BTC)
    assert position["contracts"] == 0.01
    rows = {p["planType"]: p for p in sim.exchange.plan_rows("acc0")}
    assert set(rows) == {"pos_profit", "pos_loss"}
    exchange.cancel_order(sl["id"], BTC, params={"trigger": True, "planType": "pos_loss"})
    assert {p["planType"] for p in sim.exchange.plan_rows("acc0")} == {"pos_profit"}


def test_limit_orders_open_fetch_cancel_and_cancel_all(sim, make):
    exchange = make()
    first = exchange.create_order(BTC, "limit", "buy", 0.01, 70000, params={"hedged": True})
    exchange.create_order(BTC, "limit", "buy", 0.01, 71000, params={"hedged": True})
    assert exchange.fetch_order(first["id"], BTC)["status"] == "open"
    assert len(exchange.fetch_open_orders(BTC)) == 2
    exchange.cancel_order(first["id"], BTC)
    assert exchange.fetch_order(first["id"], BTC)["status"] == "canceled"
    exchange.cancel_all_orders(BTC)
    assert exchange.fetch_open_orders(BTC) == []
    closed = exchange.fetch_canceled_and_closed_orders(BTC)
    assert sorted(o["status"] for o in closed) == ["canceled", "canceled"]


def test_close_all_positions(sim, make):
    exchange = make()
    exchange.create_order(BTC, "market", "buy", 0.01, params={"hedged": True})
    exchange.create_order("ETH/USDT:USDT", "market", "sell", 0.1, params={"hedged": True})
    closed = exchange.close_all_positions()
    assert {p["symbol"] for p in closed} == {BTC, "ETH/USDT:USDT"}
    assert exchange.fetch_positions() == []


def test_batch_orders(sim, make):
    exchange = make()
    orders = exchange.create_orders([
        {"symbol": BTC, "type": "limit", "side": "buy", "amount": 0.01, "price": 70000, "params": {"hedged": True}},
        {"symbol": BTC, "type": "limit", "side": "buy", "amount": 0.02, "price": 69000, "params": {"hedged": True}},
    ])
    assert len(orders) == 2 and all(o["id"] for o in orders)
    assert sorted(o["amount"] for o in exchange.fetch_open_orders(BTC)) == [0.01, 0.02]


def test_my_trades_carry_profit_and_fees(sim, make):
    exchange = make()
    exchange.create_order(BTC, "market", "buy", 0.01, params={"hedged": True})
    sim.exchange.set_price("BTCUSDT", "81000")
    exchange.create_order(BTC, "market", "sell", 0.01, params={"hedged": True, "reduceOnly": True})
    trades = exchange.fetch_my_trades(BTC)
    assert len(trades) == 2
    by_price = {t["price"]: t for t in trades}
    assert by_price[80000]["fee"]["cost"] == pytest.approx(0.48) and by_price[80000]["fee"]["currency"] == "USDT"
    assert Decimal(by_price[81000]["info"]["profit"]) == Decimal("10")


def test_auth_error(sim, make):
    exchange = make()
    exchange.secret = "not-the-secret"
    with pytest.raises(ccxt.AuthenticationError):
        exchange.fetch_balance({"type": "swap"})


def test_insufficient_funds(sim, make):
    exchange = make(balance="10")
    with pytest.raises(ccxt.InsufficientFunds):
        exchange.create_order(BTC, "market", "buy", 0.1, params={"hedged": True})


def test_duplicate_client_oid(sim, make):
    exchange = make()
    exchange.create_order(BTC, "market", "buy", 0.01, params={"hedged": True, "clientOrderId": "judge-1"})
    with pytest.raises(ccxt.ExchangeError, match="40786"):
        exchange.create_order(BTC, "market", "buy", 0.01, params={"hedged": True, "clientOrderId": "judge-1"})


def test_position_mode_refused_while_holding(sim, make):
    exchange = make()
    exchange.set_position_mode(False, BTC)  # idempotent: flat, so the switch works
    exchange.create_order(BTC, "market", "buy", 0.01)
    with pytest.raises(ccxt.ExchangeError, match="40920"):
        exchange.set_position_mode(True, BTC)


def test_wrong_order_style_for_the_position_mode(sim, make):
    exchange = make("hedge_mode")
    with pytest.raises(ccxt.InvalidOrder):  # 40774: a one-way style order on a hedge account
        exchange.create_order(BTC, "market", "buy", 0.01)
