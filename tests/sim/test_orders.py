"""Orders: hedge and one-way semantics, validation errors, limits, cancel, pending, detail, batch, flash close."""
from __future__ import annotations

from decimal import Decimal as D

import pytest

from .conftest import PT, SignedClient, assert_keys, fixture_data

CLOSE = "/api/v2/mix/order/close-positions"
PENDING = "/api/v2/mix/order/orders-pending"
DETAIL = "/api/v2/mix/order/detail"
CANCEL = "/api/v2/mix/order/cancel-order"
BATCH = "/api/v2/mix/order/batch-place-order"


def one_way(make_client, name: str = "OneWay", balance: str = "10000") -> SignedClient:
    return make_client(name, balance, pos_mode="one_way_mode")


def test_hedge_open_and_close_long_and_short(client: SignedClient) -> None:
    data = client.order(side="buy", tradeSide="open", size="0.02", clientOid="cp-1")
    assert_keys(data, fixture_data("mix_order_place_order"))
    assert data["clientOid"] == "cp-1" and len(data["orderId"]) >= 18
    client.order(side="sell", tradeSide="open", size="0.03")
    assert client.position("BTCUSDT", "long")["total"] == "0.02"
    assert client.position("BTCUSDT", "short")["total"] == "0.03"
    client.order(side="buy", tradeSide="close", size="0.005")  # close part of the long: side = buy
    assert client.position("BTCUSDT", "long")["total"] == "0.015"
    client.order(side="sell", tradeSide="close", size="0.03")
    assert client.position("BTCUSDT", "short") is None


def test_hedge_close_with_the_trade_side_instead_of_the_position_side_is_22002(client: SignedClient) -> None:
    client.order(side="buy", tradeSide="open", size="0.01")
    assert client.order_error(side="sell", tradeSide="close", size="0.01") == (400, "22002")
    assert client.position()["total"] == "0.01"


def test_order_style_must_match_position_mode(client: SignedClient, make_client) -> None:
    assert client.order_error(side="buy", size="0.01") == (400, "40774")  # hedge account, no tradeSide
    ow = one_way(make_client)
    assert ow.order_error(side="buy", tradeSide="open", size="0.01") == (400, "40774")
    assert ow.order_error(side="sell", tradeSide="close", size="0.01") == (400, "40774")


def test_size_rules(client: SignedClient) -> None:
    assert client.order_error(side="buy", tradeSide="open", size="0.00005") == (400, "45111")
    assert client.order_error(symbol="ETHUSDT", side="buy", tradeSide="open", size="0.001") == (400, "45111")
    assert client.order_error(side="buy", tradeSide="open", size="0.00015") == (400, "40808")
    assert client.order_error(symbol="ETHUSDT", side="buy", tradeSide="open", size="1.001") == (400, "40808")
    assert client.order_error(symbol="XRPUSDT", side="buy", tradeSide="open", size="1.5") == (400, "40808")
    assert client.order_error(side="buy", tradeSide="open", size="abc") == (400, "400172")
    assert client.order_error(side="buy", tradeSide="open", size="-1") == (400, "400172")
    assert client.order_error(side="buy", tradeSide="open", size="221") == (400, "45112")  # maxMarketOrderQty


def test_minimum_notional_is_45110(sim, client: SignedClient) -> None:
    assert client.order_error(symbol="XRPUSDT", side="buy", tradeSide="open", size="2") == (400, "45110")  # 4.4 USDT
    assert client.order(symbol="XRPUSDT", side="buy", tradeSide="open", size="3")  # 6.6 USDT
    sim.exchange.set_price("BTCUSDT", "30000")
    assert client.order_error(side="buy", tradeSide="open", size="0.0001") == (400, "45110")  # 3 USDT
    assert client.order(side="buy", tradeSide="open", size="0.0002")  # 6 USDT


def test_insufficient_balance_is_43012(make_client) -> None:
    poor = make_client("Poor", "50")
    assert poor.order_error(side="buy", tradeSide="open", size="0.02") == (400, "43012")  # 84 margin at 20x
    assert poor.order(side="buy", tradeSide="open", size="0.01")  # 42 margin + fee fits


def test_duplicate_client_oid_is_40786_even_after_the_position_is_gone(client: SignedClient) -> None:
    client.order(side="buy", tradeSide="open", size="0.01", clientOid="cp-e1-c1-open")
    assert client.order_error(side="buy", tradeSide="open", size="0.01", clientOid="cp-e1-c1-open") == (400, "40786")
    client.order(side="buy", tradeSide="close", size="0.01", clientOid="cp-e1-c1-close")
    assert client.order_error(side="buy", tradeSide="close", size="0.01", clientOid="cp-e1-c1-close") == (400, "40786")
    assert client.order_error(side="buy", tradeSide="open", size="0.01", clientOid="bad oid!") == (400, "40304")


def test_rejected_order_does_not_claim_its_client_oid(client: SignedClient) -> None:
    assert client.order_error(side="buy", tradeSide="close", size="0.01", clientOid="retry-me") == (400, "22002")
    assert client.order(side="buy", tradeSide="open", size="0.01", clientOid="retry-me")


def test_margin_mode_must_match_the_symbol_setting(client: SignedClient) -> None:
    assert client.order_error(side="buy", tradeSide="open", size="0.01", marginMode="isolated") == (400, "400172")


def test_one_way_open_reduce_and_flip(make_client) -> None:
    ow = one_way(make_client)
    ow.order(side="buy", size="0.03")
    row = ow.position("BTCUSDT", "long")
    assert (row["total"], row["posMode"]) == ("0.03", "one_way_mode")
    ow.order(side="sell", size="0.01", reduceOnly="YES")
    assert ow.position("BTCUSDT", "long")["total"] == "0.02"
    ow.order(side="sell", size="0.05")  # not reduce-only: closes the long and opens a short with the rest
    assert ow.position("BTCUSDT", "long") is None
    assert ow.position("BTCUSDT", "short")["total"] == "0.03"
    ow.order(side="buy", size="0.03", reduceOnly="YES")  # reduce-only never flips
    assert ow.positions() == []
    assert ow.order_error(side="buy", size="0.01", reduceOnly="YES") == (400, "22002")


@pytest.mark.parametrize("variant", ["refuse", "shrink"])
def test_a_reduce_only_close_larger_than_the_position_is_refused_or_shrunk(sim, make_client, variant) -> None:
    sim.exchange.variants.configure({"oversized_close": variant})
    ow = one_way(make_client)
    ow.order(side="sell", size="0.03")
    if variant == "refuse":
        assert ow.order_error(side="buy", size="0.5", reduceOnly="YES") == (400, "40757")
        assert ow.position("BTCUSDT", "short")["total"] == "0.03"
    else:
        ow.order(side="buy", size="0.5", reduceOnly="YES")  # never flips
        assert ow.positions() == []


def test_one_way_order_rows_show_net_and_single(make_client) -> None:
    ow = one_way(make_client)
    placed = ow.order(side="sell", size="0.01", clientOid="ow-1")
    detail = ow.get(DETAIL, symbol="BTCUSDT", productType=PT, orderId=placed["orderId"])
    assert (detail["posSide"], detail["tradeSide"], detail["side"]) == ("net", "sell_single", "sell")


def test_limit_order_rests_then_fills_when_the_mark_crosses(sim, client: SignedClient) -> None:
    placed = client.order(side="buy", tradeSide="open", size="0.01", orderType="limit", price="83000",
                          clientOid="lim-1")
    pending = client.get(PENDING, productType=PT)
    assert pending["endId"] == placed["orderId"]
    assert_keys(pending["entrustedList"][0], fixture_data("mix_order_orders_pending")["entrustedList"][0])
    assert pending["entrustedList"][0]["status"] == "live"
    assert client.positions() == []
    assert D(client.account()["locked"]) > 0
    sim.exchange.set_price("BTCUSDT", "83500")
    assert client.positions() == []
    sim.exchange.set_price("BTCUSDT", "82900")
    row = client.position()
    assert (row["total"], row["openPriceAvg"]) == ("0.01", "83000")
    assert client.get(PENDING, productType=PT) == fixture_data("mix_order_orders_pending__empty")
    detail = client.get(DETAIL, symbol="BTCUSDT", productType=PT, clientOid="lim-1")
    assert detail["state"] == detail["status"] == "filled" and detail["priceAvg"] == "83000"


def test_limit_close_locks_the_position(sim, client: SignedClient) -> None:
    client.order(side="buy", tradeSide="open", size="0.02")
    client.order(side="buy", tradeSide="close", size="0.015", orderType="limit", price="86000")
    row = client.position()
    assert (row["available"], row["locked"]) == ("0.005", "0.015")
    assert client.order_error(side="buy", tradeSide="close", size="0.01", orderType="limit", price="87000") == (400, "40757")
    sim.exchange.set_price("BTCUSDT", "86000")
    assert client.position()["total"] == "0.005"


def test_limit_price_must_be_on_the_tick(client: SignedClient) -> None:
    assert client.order_error(side="buy", tradeSide="open", size="0.01", orderType="limit", price="83000.05") == (400, "40808")
    assert client.order_error(symbol="ETHUSDT", side="buy", tradeSide="open", size="1", orderType="limit") == (400, "400172")


def test_cancel_order(client: SignedClient) -> None:
    placed = client.order(side="buy", tradeSide="open", size="0.01", orderType="limit", price="80000", clientOid="c-1")
    data = client.post(CANCEL, {"symbol": "BTCUSDT", "productType": PT, "clientOid": "c-1"})
    assert_keys(data, fixture_data("mix_order_cancel_order"))
    assert data["orderId"] == placed["orderId"]
    body = {"symbol": "BTCUSDT", "productType": PT, "orderId": placed["orderId"]}
    assert client.error("POST", CANCEL, body=body) == (400, "22001")
    assert client.error("POST", CANCEL, body={**body, "orderId": "123"}) == (400, "40768")
    assert client.get(DETAIL, symbol="BTCUSDT", productType=PT, orderId=placed["orderId"])["status"] == "canceled"


def test_detail_shape_and_not_found(client: SignedClient) -> None:
    placed = client.order(side="buy", tradeSide="open", size="0.017", clientOid="d-1")
    detail = client.get(DETAIL, symbol="BTCUSDT", productType=PT, orderId=placed["orderId"])
    assert_keys(detail, fixture_data("mix_order_detail"), extra={"status"})
    assert (detail["baseVolume"], detail["posSide"], detail["tradeSide"], detail["orderType"]) == ("0.017", "long", "open", "market")
    assert D(detail["fee"]) < 0
    params = {"symbol": "BTCUSDT", "productType": PT, "clientOid": "never-placed"}
    assert client.error("GET", DETAIL, params) == (400, "40109")
    assert client.error("GET", DETAIL, {**params, "symbol": "ETHUSDT", "clientOid": "d-1"}) == (400, "40109")


def test_batch_place_order_lists_failures(client: SignedClient) -> None:
    body = {"symbol": "BTCUSDT", "productType": PT, "marginCoin": "USDT", "marginMode": "crossed", "orderList": [
        {"size": "0.01", "side": "buy", "tradeSide": "open", "orderType": "market", "clientOid": "b-1"},
        {"size": "0.00001", "side": "buy", "tradeSide": "open", "orderType": "market", "clientOid": "b-2"},
        {"size": "0.01", "side": "buy", "tradeSide": "open", "orderType": "market", "clientOid": "b-1"},
    ]}
    data = client.post(BATCH, body)
    fixture = fixture_data("mix_order_batch_place_order")
    assert_keys(data, fixture)
    assert_keys(data["successList"][0], fixture["successList"][0])
    assert_keys(data["failureList"][0], fixture["failureList"][0])
    assert [s["clientOid"] for s in data["successList"]] == ["b-1"]
    assert [(f["clientOid"], f["errorCode"]) for f in data["failureList"]] == [("b-2", "45111"), ("b-1", "40786")]


def test_close_positions_by_symbol_and_side(sim, client: SignedClient) -> None:
    sim.limits.configure(False)  # three flash closes within a second: beyond Bitget's 1/s (see test_limits)
    client.order(side="buy", tradeSide="open", size="0.01")
    client.order(side="sell", tradeSide="open", size="0.01")
    client.order(symbol="ETHUSDT", side="buy", tradeSide="open", size="1")
    data = client.post(CLOSE, {"productType": PT, "symbol": "BTCUSDT", "holdSide": "long"})
    assert_keys(data, fixture_data("mix_order_close_positions"))
    assert_keys(data["successList"][0], fixture_data("mix_order_close_positions")["successList"][0])
    assert data["result"] is False and data["failureList"] == []
    assert {(p["symbol"], p["holdSide"]) for p in client.positions()} == {("BTCUSDT", "short"), ("ETHUSDT", "long")}
    data = client.post(CLOSE, {"productType": PT})
    assert len(data["successList"]) == 2 and client.positions() == []
    assert client.error("POST", CLOSE, body={"productType": PT}) == (400, "22002")


def test_close_positions_one_way_ignores_hold_side(make_client) -> None:
    ow = one_way(make_client)
    ow.order(side="sell", size="0.01")
    ow.post(CLOSE, {"productType": PT, "symbol": "BTCUSDT", "holdSide": "long"})
    assert ow.positions() == []


@pytest.mark.parametrize("variant", ["refuse", "shrink"])
def test_market_close_larger_than_the_position_is_refused_or_closes_it(sim, client: SignedClient, variant) -> None:
    sim.exchange.variants.configure({"oversized_close": variant})
    client.order(side="buy", tradeSide="open", size="0.01")
    if variant == "refuse":
        assert client.order_error(side="buy", tradeSide="close", size="0.05") == (400, "40757")
        assert client.position("BTCUSDT", "long")["total"] == "0.01"
        return
    placed = client.order(side="buy", tradeSide="close", size="0.05")
    assert client.positions() == []
    detail = client.get(DETAIL, symbol="BTCUSDT", productType=PT, orderId=placed["orderId"])
    assert detail["baseVolume"] == "0.01"


def test_hedge_margin_check_does_not_net_against_the_other_side(make_client) -> None:
    small = make_client("Small", "100")
    small.order(side="sell", tradeSide="open", size="0.02")  # 84 USDT margin at 20x
    assert small.order_error(side="buy", tradeSide="open", size="0.02") == (400, "43012")


def test_one_way_flip_is_margin_checked_on_the_remainder(make_client) -> None:
    ow = make_client("SmallOneWay", "100", pos_mode="one_way_mode")
    ow.order(side="sell", size="0.02")
    ow.order(side="buy", size="0.02")  # a pure close needs no new margin
    assert ow.positions() == []
