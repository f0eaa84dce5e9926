"""Fills: each execution carries its realized profit and fee; newest first, filters, paging, history, state."""
from __future__ import annotations

import time
from decimal import Decimal as D

from app.sim.exchange import Exchange

from .conftest import PT, SignedClient, assert_keys, fixture_data

FILLS = "/api/v2/mix/order/fills"
HISTORY = "/api/v2/mix/order/fill-history"
CLOSE = "/api/v2/mix/order/close-positions"


def fills(client: SignedClient, path: str = FILLS, **params) -> dict:
    return client.get(path, productType=PT, **params)


def fee(row: dict) -> D:
    return sum((D(item["totalFee"]) for item in row["feeDetail"]), D(0))


def test_open_and_close_fills_carry_profit_and_fee_and_add_up_to_the_balance(sim, client: SignedClient) -> None:
    sim.exchange.set_price("BTCUSDT", "80000")
    opened = client.order(side="buy", tradeSide="open", size="0.1")
    sim.exchange.set_price("BTCUSDT", "81000")
    closed = client.order(side="buy", tradeSide="close", size="0.1")
    data = fills(client)
    close_row, open_row = data["fillList"]  # newest first
    assert_keys(close_row, fixture_data("mix_order_fills")["fillList"][0])
    assert data["endId"] == open_row["tradeId"] and int(close_row["tradeId"]) > int(open_row["tradeId"])
    assert (open_row["orderId"], open_row["tradeSide"], open_row["side"]) == (opened["orderId"], "open", "buy")
    assert (close_row["orderId"], close_row["tradeSide"]) == (closed["orderId"], "close")
    assert open_row["profit"] == "0" and fee(open_row) == D("-4.8")  # 0.1 x 80000 x 0.06 %
    assert close_row["profit"] == "100" and fee(close_row) == D("-4.86")  # (81000 - 80000) x 0.1
    assert close_row["feeDetail"][0] == {"deduction": "no", "feeCoin": "USDT", "totalDeductionFee": "0",
                                         "totalFee": "-4.86"}
    assert (close_row["price"], close_row["baseVolume"], close_row["quoteVolume"]) == ("81000", "0.1", "8100")
    assert (close_row["posMode"], close_row["tradeScope"], close_row["symbol"]) == ("hedge_mode", "taker", "BTCUSDT")
    realized = sum((D(r["profit"]) + fee(r) for r in data["fillList"]), D(0))
    assert D(sim.exchange.account("Master").balance) == D("10000") + realized


def test_short_profit_is_reversed_and_a_loss_is_negative(sim, client: SignedClient) -> None:
    sim.exchange.set_price("BTCUSDT", "80000")
    client.order(side="sell", tradeSide="open", size="0.2")
    sim.exchange.set_price("BTCUSDT", "79000")
    client.order(side="sell", tradeSide="close", size="0.1")  # short gains when the price falls
    sim.exchange.set_price("BTCUSDT", "80500")
    client.order(side="sell", tradeSide="close", size="0.1")
    rows = fills(client)["fillList"]
    assert [r["profit"] for r in rows] == ["-50", "100", "0"]


def test_flash_close_and_maker_fills_are_recorded(sim, client: SignedClient) -> None:
    sim.exchange.set_price("BTCUSDT", "80000")
    client.order(side="buy", tradeSide="open", size="0.1", orderType="limit", price="79000")
    sim.exchange.set_price("BTCUSDT", "78900")  # the resting limit fills as maker at its price
    sim.exchange.set_price("BTCUSDT", "78000")
    client.post(CLOSE, {"productType": PT})
    close_row, open_row = fills(client)["fillList"]
    assert (open_row["tradeScope"], open_row["price"], fee(open_row)) == ("maker", "79000", D("-1.58"))
    assert (close_row["tradeScope"], close_row["profit"]) == ("taker", "-100")


def test_filters_limit_and_paging_with_end_id(sim, client: SignedClient, make_client) -> None:
    sim.exchange.set_price("BTCUSDT", "80000")
    sim.exchange.set_price("ETHUSDT", "3000")
    first = client.order(side="buy", tradeSide="open", size="0.01")
    time.sleep(0.005)
    middle = int(time.time() * 1000)
    for _ in range(3):
        client.order(symbol="ETHUSDT", side="buy", tradeSide="open", size="0.1")
    other = make_client("Other")
    assert fills(other) == {"fillList": None, "endId": None}  # per account; none yet
    assert len(fills(client)["fillList"]) == 4
    assert {r["symbol"] for r in fills(client, symbol="ETHUSDT")["fillList"]} == {"ETHUSDT"}
    assert [r["orderId"] for r in fills(client, orderId=first["orderId"])["fillList"]] == [first["orderId"]]
    assert len(fills(client, startTime=middle)["fillList"]) == 3
    assert [r["symbol"] for r in fills(client, endTime=middle - 1)["fillList"]] == ["BTCUSDT"]
    page1 = fills(client, limit=3)
    assert len(page1["fillList"]) == 3 and page1["endId"] == page1["fillList"][-1]["tradeId"]
    page2 = fills(client, limit=3, idLessThan=page1["endId"])
    assert [r["orderId"] for r in page2["fillList"]] == [first["orderId"]]
    assert fills(client, idLessThan=page2["endId"]) == {"fillList": None, "endId": None}
    assert fills(client, HISTORY, limit=3) == page1  # fill-history: the same shape
    assert client.error("GET", FILLS, {"productType": PT, "idLessThan": "abc"})[1] == "400172"


def test_one_way_trade_side_and_fills_survive_the_state_file(sim, make_client) -> None:
    sim.exchange.set_price("BTCUSDT", "80000")
    one_way = make_client("OneWay", pos_mode="one_way_mode")
    one_way.order(side="buy", size="0.1")
    sim.exchange.set_price("BTCUSDT", "80100")
    one_way.order(side="sell", size="0.1", reduceOnly="YES")
    rows = fills(one_way)["fillList"]
    assert [(r["tradeSide"], r["posMode"], r["profit"]) for r in rows] == [
        ("sell_single", "one_way_mode", "10"), ("buy_single", "one_way_mode", "0")]
    restored = Exchange()
    restored.load_json(sim.exchange.to_json())
    assert restored.fill_rows("OneWay") == sim.exchange.fill_rows("OneWay")
    assert restored.fills_view(restored.account("OneWay"))["fillList"] == rows
