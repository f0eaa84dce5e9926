"""Public endpoints: time, contracts, tickers, symbol price; productType checks; unknown paths."""
from __future__ import annotations

import time

import requests

from .conftest import PT, assert_keys, fixture_data


def get(sim, path: str, **params: str) -> requests.Response:
    return requests.get(sim.url + path, params=params, timeout=5)


def test_server_time_is_a_string_of_ms(sim) -> None:
    payload = get(sim, "/api/v2/public/time").json()
    assert payload["code"] == "00000" and isinstance(payload["requestTime"], int)
    assert abs(int(payload["data"]["serverTime"]) - time.time() * 1000) < 5000
    assert_keys(payload, {"code": 0, "msg": 0, "requestTime": 0, "data": 0})


def test_contracts_match_the_fixture_shape_and_rules(sim) -> None:
    rows = get(sim, "/api/v2/mix/market/contracts", productType=PT).json()["data"]
    by_symbol = {r["symbol"]: r for r in rows}
    assert {"BTCUSDT", "ETHUSDT", "SOLUSDT", "XRPUSDT"} <= set(by_symbol)
    for row in rows:
        assert_keys(row, fixture_data("mix_market_contracts")[0])
    btc = by_symbol["BTCUSDT"]
    assert (btc["minTradeNum"], btc["sizeMultiplier"], btc["volumePlace"], btc["pricePlace"]) == ("0.0001", "0.0001", "4", "1")
    assert (btc["priceEndStep"], btc["minTradeUSDT"], btc["maxLever"]) == ("1", "5", "125")
    eth = by_symbol["ETHUSDT"]
    assert (eth["minTradeNum"], eth["volumePlace"], eth["pricePlace"], eth["maxLever"]) == ("0.01", "2", "2", "100")
    assert (by_symbol["SOLUSDT"]["sizeMultiplier"], by_symbol["SOLUSDT"]["pricePlace"]) == ("0.1", "3")
    assert (by_symbol["XRPUSDT"]["sizeMultiplier"], by_symbol["XRPUSDT"]["pricePlace"]) == ("1", "4")
    one = get(sim, "/api/v2/mix/market/contracts", productType=PT, symbol="ETHUSDT").json()["data"]
    assert [r["symbol"] for r in one] == ["ETHUSDT"]


def test_ticker_tickers_and_symbol_price(sim) -> None:
    sim.exchange.set_price("BTCUSDT", "84491")
    ticker = get(sim, "/api/v2/mix/market/ticker", productType=PT, symbol="BTCUSDT").json()["data"]
    assert len(ticker) == 1
    assert_keys(ticker[0], fixture_data("mix_market_ticker")[0])
    assert ticker[0]["markPrice"] == ticker[0]["lastPr"] == "84491"
    tickers = get(sim, "/api/v2/mix/market/tickers", productType=PT).json()["data"]
    assert {t["symbol"] for t in tickers} >= {"BTCUSDT", "ETHUSDT", "SOLUSDT", "XRPUSDT"}
    price = get(sim, "/api/v2/mix/market/symbol-price", productType=PT, symbol="BTCUSDT").json()["data"]
    assert_keys(price[0], fixture_data("mix_market_symbol_price")[0])
    assert price[0]["markPrice"] == "84491"


def test_starting_prices_are_realistic(sim) -> None:
    prices = sim.exchange.prices_snapshot()
    assert prices == {"BTCUSDT": "84000", "ETHUSDT": "2200", "SOLUSDT": "140", "XRPUSDT": "2.2"}


def test_product_type_is_required_and_other_product_types_list_nothing(sim) -> None:
    for path in ("/api/v2/mix/market/tickers", "/api/v2/mix/market/contracts"):
        for params in ({}, {"productType": "NOPE-FUTURES"}):
            response = get(sim, path, **params)
            assert response.status_code == 400 and response.json()["code"] == "400172"
        for product in ("COIN-FUTURES", "USDC-FUTURES", "usdc-futures", "SUSDT-FUTURES"):
            response = get(sim, path, productType=product)
            assert response.status_code == 200 and response.json()["data"] == [], (path, product)


def test_unknown_symbol_and_missing_symbol(sim) -> None:
    response = get(sim, "/api/v2/mix/market/ticker", productType=PT, symbol="BTCUSDT_UMCBL")
    assert (response.status_code, response.json()["code"]) == (400, "40034")
    response = get(sim, "/api/v2/mix/market/ticker", productType=PT)
    assert (response.status_code, response.json()["code"]) == (400, "400172")


def test_unknown_path_answers_a_404_envelope(sim) -> None:
    for path in ("/api/v2/mix/order/no-such-thing", "/nothing/here"):
        response = requests.get(sim.url + path, timeout=5)
        payload = response.json()
        assert response.status_code == 404 and payload["code"] == "40404" and payload["data"] is None


def test_keep_alive_connection_is_reused(sim) -> None:
    session = requests.Session()
    first = session.get(sim.url + "/api/v2/public/time", timeout=5)
    assert first.headers["Connection"] == "keep-alive"
    for _ in range(19):  # 20 in all: within the public 20/s of the simulator's rate limits
        assert session.get(sim.url + "/api/v2/public/time", timeout=5).status_code == 200
    assert len(session.get_adapter(sim.url).poolmanager.pools) == 1


def test_listen_backlog_is_large(sim) -> None:
    assert sim.httpd.request_queue_size >= 1024
