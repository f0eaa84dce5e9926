"""Position TP/SL plans: place, duplicates, wrong side of mark, modify, cancel, list, trigger, cleanup."""
from __future__ import annotations

from decimal import Decimal as D

from .conftest import PT, SignedClient, assert_keys, fixture_data

PLACE = "/api/v2/mix/order/place-tpsl-order"
MODIFY = "/api/v2/mix/order/modify-tpsl-order"
CANCEL = "/api/v2/mix/order/cancel-plan-order"
PENDING = "/api/v2/mix/order/orders-plan-pending"
BASE = {"symbol": "BTCUSDT", "productType": PT, "marginCoin": "USDT"}


def tpsl(kind: str, price: str, side: str = "long", **extra: str) -> dict[str, str]:
    return {**BASE, "planType": kind, "triggerPrice": price, "triggerType": "mark_price", "executePrice": "0",
            "holdSide": side, **extra}


def long_with_tpsl(client: SignedClient) -> tuple[str, str]:
    client.order(side="buy", tradeSide="open", size="0.017")
    tp = client.post(PLACE, tpsl("pos_profit", "90000", clientOid="cp-tp"))
    sl = client.post(PLACE, tpsl("pos_loss", "82000", clientOid="cp-sl"))
    assert_keys(tp, fixture_data("mix_order_place_tpsl_order"))
    return tp["orderId"], sl["orderId"]


def test_place_and_show_on_the_position_and_in_the_plan_list(client: SignedClient) -> None:
    tp_id, sl_id = long_with_tpsl(client)
    row = client.position()
    assert (row["takeProfit"], row["stopLoss"], row["takeProfitId"], row["stopLossId"]) == ("90000", "82000", tp_id, sl_id)
    plans = client.get(PENDING, productType=PT, planType="profit_loss")
    fixture = fixture_data("mix_order_orders_plan_pending")
    assert_keys(plans, fixture)
    for plan in plans["entrustedList"]:
        assert_keys(plan, fixture["entrustedList"][0])
    by_type = {p["planType"]: p for p in plans["entrustedList"]}
    assert by_type["pos_profit"]["orderId"] == tp_id and by_type["pos_loss"]["clientOid"] == "cp-sl"
    assert (by_type["pos_loss"]["side"], by_type["pos_loss"]["posSide"], by_type["pos_loss"]["size"]) == ("buy", "long", "0")
    assert by_type["pos_profit"]["orderSource"] == "pos_profit_market"


def test_a_second_tp_or_sl_on_the_same_position_is_rejected(client: SignedClient) -> None:
    long_with_tpsl(client)
    assert client.error("POST", PLACE, body=tpsl("pos_profit", "91000")) == (400, "43030")
    assert client.error("POST", PLACE, body=tpsl("pos_loss", "81000")) == (400, "43031")


def test_trigger_on_the_wrong_side_of_the_mark(client: SignedClient) -> None:
    client.order(side="buy", tradeSide="open", size="0.01")
    client.order(side="sell", tradeSide="open", size="0.01")
    assert client.error("POST", PLACE, body=tpsl("pos_profit", "83000")) == (400, "40915")
    assert client.error("POST", PLACE, body=tpsl("pos_loss", "85000")) == (400, "40917")
    assert client.error("POST", PLACE, body=tpsl("pos_loss", "83000", "short")) == (400, "45122")
    assert client.error("POST", PLACE, body=tpsl("pos_profit", "85000", "short")) == (400, "40915")
    assert client.error("POST", PLACE, body=tpsl("pos_loss", "83000.05")) == (400, "40808")


def test_no_position_and_hold_side_style(client: SignedClient, make_client) -> None:
    assert client.error("POST", PLACE, body=tpsl("pos_profit", "90000")) == (400, "43023")
    client.order(side="buy", tradeSide="open", size="0.01")
    assert client.error("POST", PLACE, body=tpsl("pos_profit", "90000", "buy")) == (400, "400172")
    ow = make_client("OneWay", pos_mode="one_way_mode")
    ow.order(side="sell", size="0.01")
    assert ow.error("POST", PLACE, body=tpsl("pos_profit", "80000", "short")) == (400, "400172")
    ow.post(PLACE, tpsl("pos_profit", "80000", "sell"))
    plan = ow.get(PENDING, productType=PT, planType="profit_loss")["entrustedList"][0]
    assert (plan["posSide"], plan["side"], plan["posMode"]) == ("net", "sell", "one_way_mode")
    assert ow.position("BTCUSDT", "short")["takeProfit"] == "80000"


def test_modify_moves_the_trigger(client: SignedClient) -> None:
    tp_id, _ = long_with_tpsl(client)
    data = client.post(MODIFY, {**BASE, "orderId": tp_id, "triggerPrice": "95000", "triggerType": "mark_price",
                                "executePrice": "0", "size": ""})
    assert_keys(data, fixture_data("mix_order_modify_tpsl_order"))
    assert client.position()["takeProfit"] == "95000"
    data = client.post(MODIFY, {**BASE, "clientOid": "cp-sl", "triggerPrice": "80000", "size": ""})
    assert client.position()["stopLoss"] == "80000"
    body = {**BASE, "orderId": "42", "triggerPrice": "95000", "size": ""}
    assert client.error("POST", MODIFY, body=body) == (400, "43020")
    assert client.error("POST", MODIFY, body={**body, "orderId": tp_id, "triggerPrice": "83000"}) == (400, "40915")


def test_cancel_by_id_list_with_plan_type(client: SignedClient) -> None:
    tp_id, sl_id = long_with_tpsl(client)
    body = {**BASE, "planType": "pos_loss", "orderIdList": [{"orderId": sl_id}, {"orderId": tp_id}]}
    data = client.post(CANCEL, body)
    assert_keys(data, fixture_data("mix_order_cancel_plan_order"))
    assert [s["orderId"] for s in data["successList"]] == [sl_id]
    assert [f["orderId"] for f in data["failureList"]] == [tp_id]  # a pos_profit id under planType pos_loss
    assert_keys(data["failureList"][0], fixture_data("mix_order_cancel_plan_order")["failureList"][0])
    row = client.position()
    assert (row["stopLoss"], row["stopLossId"], row["takeProfit"]) == ("", "", "90000")
    client.post(CANCEL, {**BASE, "planType": "pos_profit", "orderIdList": [{"clientOid": "cp-tp"}]})
    assert client.get(PENDING, productType=PT, planType="profit_loss") == {"entrustedList": None, "endId": None}


def test_take_profit_triggers_when_the_mark_crosses_it(sim, client: SignedClient) -> None:
    long_with_tpsl(client)
    sim.exchange.set_price("BTCUSDT", "89999")
    assert client.position()["total"] == "0.017"
    sim.exchange.set_price("BTCUSDT", "90000")
    assert client.positions() == []
    assert client.get(PENDING, productType=PT, planType="profit_loss")["entrustedList"] is None
    fills = sim.exchange.order_log_rows(account="Master")
    assert fills[-1]["source"] == "pos_profit_market" and fills[-1]["positionSize"] == "0"
    expected = D("10000") + D("0.017") * 6000 - D("0.017") * 84000 * D("0.0006") - D("0.017") * 90000 * D("0.0006")
    assert D(client.account()["accountEquity"]) == expected


def test_stop_loss_of_a_short_triggers(sim, client: SignedClient) -> None:
    client.order(side="sell", tradeSide="open", size="0.01")
    client.post(PLACE, tpsl("pos_loss", "85000", "short"))
    sim.exchange.set_price("BTCUSDT", "86000")
    assert client.positions() == []


def test_plans_disappear_when_the_position_is_closed(client: SignedClient) -> None:
    long_with_tpsl(client)
    client.order(side="buy", tradeSide="close", size="0.017")
    assert client.get(PENDING, productType=PT, planType="profit_loss")["entrustedList"] is None
    client.order(side="buy", tradeSide="open", size="0.01")
    assert client.position()["takeProfit"] == ""
    client.post(PLACE, tpsl("pos_profit", "90000"))  # a fresh position may get a new TP


def test_partial_plans_and_preset_tpsl(sim, client: SignedClient) -> None:
    client.order(side="buy", tradeSide="open", size="0.02")
    client.post(PLACE, tpsl("profit_plan", "88000", size="0.005"))
    client.post(PLACE, tpsl("profit_plan", "89000", size="0.005"))
    assert client.position()["takeProfit"] == ""  # partial plans are not the position TP
    sim.exchange.set_price("BTCUSDT", "88500")
    assert client.position()["total"] == "0.015"
    client.order(symbol="ETHUSDT", side="sell", tradeSide="open", size="1", presetStopLossPrice="2300")
    plans = [p for p in client.get(PENDING, productType=PT, planType="profit_loss")["entrustedList"]
             if p["symbol"] == "ETHUSDT"]
    assert [(p["planType"], p["size"], p["triggerPrice"]) for p in plans] == [("loss_plan", "1", "2300")]


def test_plan_list_requires_plan_type(client: SignedClient) -> None:
    assert client.error("GET", PENDING, {"productType": PT}) == (400, "400172")
    assert client.get(PENDING, productType=PT, planType="normal_plan")["entrustedList"] is None
