"""Strictness (issue 17): one-way reduce-only closes (REFERENCE 9.1), the switchable variants, and the coverage
of the endpoints and market states clients meet: symbolStatus, price ticks, v3 probes, cancel-all, history."""
from __future__ import annotations

import pytest
import requests

from app.sim.variants import VARIANTS, VariantSettings, parse_variants

from .conftest import PT, SignedClient

PLACE_TPSL = "/api/v2/mix/order/place-tpsl-order"
POS_TPSL = "/api/v2/mix/order/place-pos-tpsl"
CANCEL_PLAN = "/api/v2/mix/order/cancel-plan-order"
PLAN_PENDING = "/api/v2/mix/order/orders-plan-pending"
PENDING = "/api/v2/mix/order/orders-pending"
DETAIL = "/api/v2/mix/order/detail"
BASE = {"symbol": "BTCUSDT", "productType": PT, "marginCoin": "USDT"}


def tpsl(kind: str, price: str, side: str = "long", **extra: str) -> dict[str, str]:
    return {**BASE, "planType": kind, "triggerPrice": price, "executePrice": "0", "holdSide": side, **extra}


def plans(client: SignedClient) -> list[dict]:
    return client.get(PLAN_PENDING, productType=PT, planType="profit_loss")["entrustedList"] or []


def pending(client: SignedClient) -> list[dict]:
    return client.get(PENDING, productType=PT)["entrustedList"] or []


def limit_close(client: SignedClient, size: str, price: str, oid: str) -> str:
    """A resting one-way reduce-only buy; its orderId (looked up by clientOid when the answer has none)."""
    placed = client.order(side="buy", size=size, reduceOnly="YES", orderType="limit", price=price, clientOid=oid)
    return placed.get("orderId") or client.get(DETAIL, symbol="BTCUSDT", productType=PT, clientOid=oid)["orderId"]


# ----- 1. one-way reduce-only closes ------------------------------------------------------------------------

@pytest.mark.parametrize("ack", ["no_order_id", "order_id"])
def test_one_way_market_reduce_only_cancels_older_reduce_only_orders_and_closes_in_full(sim, make_client, ack):
    sim.exchange.variants.configure({"one_way_close_ack": ack})
    ow = make_client("OneWay", pos_mode="one_way_mode")
    ow.order(side="sell", size="0.10")  # short 0.10
    old = limit_close(ow, "0.06", "70000", "rest-1")
    newer = limit_close(ow, "0.03", "71000", "rest-2")
    assert ow.position("BTCUSDT", "short")["available"] == "0.01"
    placed = ow.order(side="buy", size="0.05", reduceOnly="YES", clientOid="close-1")
    assert ("orderId" in placed) == (ack == "order_id") and placed["clientOid"] == "close-1"
    detail = ow.get(DETAIL, symbol="BTCUSDT", productType=PT, clientOid="close-1")
    assert (detail["status"], detail["baseVolume"]) == ("filled", "0.05")  # all of it, not the free 0.01
    assert ow.position("BTCUSDT", "short")["total"] == "0.05"
    # the oldest resting close gave way; the newer one still fits (0.03 <= 0.05) and stays
    assert [o["orderId"] for o in pending(ow)] == [newer]
    gone = ow.get(DETAIL, symbol="BTCUSDT", productType=PT, orderId=old)
    assert (gone["status"], gone["cancelReason"]) == ("canceled", "reduce_only_replaced")


def test_one_way_limit_reduce_only_beyond_the_free_size_makes_room_instead_of_failing(sim, make_client):
    ow = make_client("OneWay", pos_mode="one_way_mode")
    ow.order(side="sell", size="0.10")
    first = limit_close(ow, "0.08", "70000", "a")
    limit_close(ow, "0.05", "71000", "b")  # 0.08 + 0.05 > 0.10: the older one is cancelled
    assert [o["clientOid"] for o in pending(ow)] == ["b"]
    assert ow.get(DETAIL, symbol="BTCUSDT", productType=PT, orderId=first)["status"] == "canceled"


def test_hedge_closes_keep_their_own_rules(sim, client: SignedClient):
    client.order(side="buy", tradeSide="open", size="0.10")
    client.order(side="buy", tradeSide="close", size="0.07", orderType="limit", price="90000")
    assert client.order_error(side="buy", tradeSide="close", size="0.05", orderType="limit",
                              price="91000") == (400, "40757")
    client.order(side="buy", tradeSide="close", size="0.05")  # market: only the free 0.03 closes
    assert client.position()["total"] == "0.07" and len(pending(client)) == 1


# ----- 2. variants ------------------------------------------------------------------------------------------

def test_variant_settings_parse_validate_and_reset(monkeypatch):
    assert parse_variants("second_pos_tpsl=replace, oversized_close=shrink") == {
        "second_pos_tpsl": "replace", "oversized_close": "shrink"}
    for bad in ("nope=1", "second_pos_tpsl=maybe", "second_pos_tpsl"):
        with pytest.raises(ValueError):
            parse_variants(bad)
    monkeypatch.setenv("SIM_VARIANTS", "default_trigger_type=mark_price")
    settings = VariantSettings.from_env()
    assert settings.default_trigger_type == "mark_price" and settings.second_pos_tpsl == "refuse"
    settings.configure({"second_pos_tpsl": "replace"})
    assert settings.reset()["second_pos_tpsl"] == "refuse"
    assert settings.snapshot()["default_trigger_type"] == "mark_price"  # the start options come back
    assert {v["name"] for v in settings.describe()} == set(VARIANTS)


def test_admin_reads_and_changes_variants(sim):
    url = sim.url + "/_sim/variants"
    assert requests.get(url, timeout=5).json()["variants"] == {n: v.default for n, v in VARIANTS.items()}
    changed = requests.post(url, json={"cancel_plan_profit_loss": "accept"}, timeout=5).json()["variants"]
    assert changed["cancel_plan_profit_loss"] == "accept" and sim.exchange.variants.cancel_plan_profit_loss == "accept"
    assert requests.put(url, json={}, timeout=5).json()["variants"]["cancel_plan_profit_loss"] == "refuse"
    bad = requests.post(url, json={"cancel_plan_profit_loss": "perhaps"}, timeout=5)
    assert bad.status_code == 400


@pytest.mark.parametrize("variant", ["refuse", "replace"])
def test_second_pos_profit_is_refused_or_replaces_the_first(sim, client: SignedClient, variant):
    sim.exchange.variants.configure({"second_pos_tpsl": variant})
    client.order(side="buy", tradeSide="open", size="0.01")
    first = client.post(PLACE_TPSL, tpsl("pos_profit", "90000"))["orderId"]
    if variant == "refuse":
        assert client.error("POST", PLACE_TPSL, body=tpsl("pos_profit", "95000")) == (400, "43030")
        assert [(p["orderId"], p["triggerPrice"]) for p in plans(client)] == [(first, "90000")]
    else:
        second = client.post(PLACE_TPSL, tpsl("pos_profit", "95000"))["orderId"]
        assert [(p["orderId"], p["triggerPrice"]) for p in plans(client)] == [(second, "95000")]
        assert client.position()["takeProfitId"] == second


@pytest.mark.parametrize("variant", ["refuse", "accept"])
def test_cancel_plan_order_with_profit_loss(sim, client: SignedClient, variant):
    sim.exchange.variants.configure({"cancel_plan_profit_loss": variant})
    client.order(side="buy", tradeSide="open", size="0.01")
    tp = client.post(PLACE_TPSL, tpsl("pos_profit", "90000"))["orderId"]
    body = {**BASE, "planType": "profit_loss", "orderIdList": [{"orderId": tp}]}
    if variant == "refuse":
        assert client.error("POST", CANCEL_PLAN, body=body) == (400, "400172")
        assert len(plans(client)) == 1
    else:
        assert client.post(CANCEL_PLAN, body)["successList"][0]["orderId"] == tp
        assert plans(client) == []
    # the specific kind always works
    if variant == "refuse":
        assert client.post(CANCEL_PLAN, {**body, "planType": "pos_profit"})["successList"]


@pytest.mark.parametrize("variant", ["refuse", "follow"])
def test_margin_mode_mismatch_on_open(sim, client: SignedClient, variant):
    sim.exchange.variants.configure({"margin_mode_mismatch": variant})
    if variant == "refuse":
        assert client.order_error(side="buy", tradeSide="open", size="0.01", marginMode="isolated") == (400, "400172")
        return
    client.order(side="buy", tradeSide="open", size="0.01", marginMode="isolated")
    assert client.position()["marginMode"] == "crossed"  # the symbol's own mode


@pytest.mark.parametrize("variant", ["fill_price", "mark_price"])
def test_default_trigger_type(sim, client: SignedClient, variant):
    sim.exchange.variants.configure({"default_trigger_type": variant})
    client.order(side="buy", tradeSide="open", size="0.01")
    client.post(PLACE_TPSL, tpsl("pos_loss", "70000"))
    assert plans(client)[0]["triggerType"] == variant


@pytest.mark.parametrize("variant,side,trade_side", [("position", "buy", "close"),
                                                     ("close_trade", "sell", "sell_single")])
def test_one_way_plan_rows_side_and_trade_side(sim, make_client, variant, side, trade_side):
    sim.exchange.variants.configure({"one_way_plan_side": variant})
    ow = make_client("OneWay", pos_mode="one_way_mode")
    ow.order(side="buy", size="0.01")
    ow.post(PLACE_TPSL, tpsl("pos_loss", "70000", side="buy"))
    (row,) = plans(ow)
    assert (row["side"], row["tradeSide"], row["posSide"]) == (side, trade_side, "net")


# ----- 3. coverage ------------------------------------------------------------------------------------------

def test_place_pos_tpsl_places_both_legs_or_none(sim, client: SignedClient):
    client.order(side="buy", tradeSide="open", size="0.02")
    body = {**BASE, "holdSide": "long", "stopSurplusTriggerPrice": "90000", "stopSurplusTriggerType": "mark_price",
            "stopLossTriggerPrice": "75000", "stopLossSize": "0.01", "stopSurplusClientOid": "tp-1",
            "stopLossClientOid": "sl-1"}
    rows = client.post(POS_TPSL, body)
    assert len(rows) == 2 and all(set(r) == {"orderId", "stopSurplusClientOid", "stopLossClientOid"} for r in rows)
    kinds = {p["planType"]: p for p in plans(client)}
    assert set(kinds) == {"pos_profit", "loss_plan"} and kinds["loss_plan"]["size"] == "0.01"
    assert kinds["pos_profit"]["clientOid"] == "tp-1"
    bad = {**BASE, "holdSide": "long", "stopSurplusTriggerPrice": "91000", "stopSurplusSize": "0.01",
           "stopLossTriggerPrice": "85000", "stopLossSize": "0.01"}
    assert client.error("POST", POS_TPSL, body=bad)[1] == "40917"  # SL above the mark: neither leg placed
    assert len(plans(client)) == 2


def test_cancel_all_and_batch_cancel_leave_plans_alone(sim, client: SignedClient):
    client.order(side="buy", tradeSide="open", size="0.01")
    client.post(PLACE_TPSL, tpsl("pos_loss", "70000"))
    for price in ("70000", "71000", "72000"):
        client.order(side="buy", tradeSide="open", size="0.01", orderType="limit", price=price)
    first = pending(client)[-1]["orderId"]
    batch = client.post("/api/v2/mix/order/batch-cancel-orders",
                        {**BASE, "orderIdList": [{"orderId": first}, {"orderId": "123"}]})
    assert [s["orderId"] for s in batch["successList"]] == [first] and batch["failureList"][0]["errorCode"] == "40768"
    done = client.post("/api/v2/mix/order/cancel-all-orders", {"productType": PT, "marginCoin": "USDT"})
    assert len(done["successList"]) == 2 and pending(client) == []
    assert len(plans(client)) == 1
    assert client.post("/api/v2/mix/order/cancel-all-orders", {"productType": PT})["successList"] == []


def test_orders_history_lists_finished_orders_newest_first(sim, client: SignedClient):
    path = "/api/v2/mix/order/orders-history"
    assert client.get(path, productType=PT) == {"entrustedList": None, "endId": None}
    client.order(side="buy", tradeSide="open", size="0.01", clientOid="h1")
    client.order(side="buy", tradeSide="open", size="0.01", orderType="limit", price="70000", clientOid="h2")
    client.post("/api/v2/mix/order/cancel-order", {**BASE, "clientOid": "h2"})
    client.order(side="buy", tradeSide="open", size="0.01", orderType="limit", price="71000", clientOid="h3")
    rows = client.get(path, productType=PT, symbol="BTCUSDT")["entrustedList"]
    assert [(r["clientOid"], r["status"]) for r in rows] == [("h2", "canceled"), ("h1", "filled")]
    page = client.get(path, productType=PT, limit="1")
    assert len(page["entrustedList"]) == 1 and page["endId"] == rows[0]["orderId"]
    older = client.get(path, productType=PT, idLessThan=page["endId"])["entrustedList"]
    assert [r["clientOid"] for r in older] == ["h1"]


def test_fills_and_fill_history_carry_profit_and_fee_detail(sim, client: SignedClient):
    client.order(side="buy", tradeSide="open", size="0.01")
    sim.exchange.set_price("BTCUSDT", "85000")
    client.order(side="buy", tradeSide="close", size="0.01")
    for path in ("/api/v2/mix/order/fills", "/api/v2/mix/order/fill-history"):
        close, opening = client.get(path, productType=PT)["fillList"]
        assert (close["profit"], opening["profit"]) == ("10", "0")
        assert close["feeDetail"][0]["feeCoin"] == "USDT" and close["feeDetail"][0]["totalFee"].startswith("-")


def test_signed_v3_probes_answer_40084_and_unsigned_ones_404(sim, client: SignedClient):
    assert client.error("GET", "/api/v3/account/settings") == (400, "40084")
    assert client.error("GET", "/api/v3/account/settings", secret="wrong") == (400, "40009")
    assert requests.get(sim.url + "/api/v3/market/tickers", timeout=5).status_code == 404


def test_spot_and_margin_public_endpoints(sim):
    coins = requests.get(sim.url + "/api/v2/spot/public/coins", timeout=5).json()["data"]
    assert {c["coin"] for c in coins} == {"USDT", "BTC", "ETH", "SOL", "XRP"}
    symbols = requests.get(sim.url + "/api/v2/spot/public/symbols", timeout=5).json()["data"]
    assert "BTCUSDT" in {s["symbol"] for s in symbols} and {s["status"] for s in symbols} == {"online"}
    assert requests.get(sim.url + "/api/v2/margin/currencies", timeout=5).json()["data"] == []


def test_spot_wallet_and_all_account_balance(sim, client: SignedClient):
    assert client.get("/api/v2/spot/account/assets") == []
    assert {r["coin"] for r in client.get("/api/v2/spot/account/assets", assetType="all")} >= {"USDT"}
    rows = {r["accountType"]: r["usdtBalance"] for r in client.get("/api/v2/account/all-account-balance")}
    assert rows["futures"] == "10000" and rows["spot"] == "0"


@pytest.mark.parametrize("status,open_code,close_code", [
    ("limit_open", "45119", None),
    ("maintain", "40308", "40308"),
    ("restrictedAPI", "22004", "22004"),
    ("off", "40309", "40309"),
])
def test_symbol_status_is_settable_shown_and_enforced(sim, client: SignedClient, status, open_code, close_code):
    client.order(side="buy", tradeSide="open", size="0.02")
    answer = requests.post(f"{sim.url}/_sim/symbols/btcusdt", json={"symbolStatus": status}, timeout=5).json()
    assert answer == {"symbol": "BTCUSDT", "symbolStatus": status}
    row = client.get("/api/v2/mix/market/contracts", productType=PT, symbol="BTCUSDT")[0]
    assert row["symbolStatus"] == status
    assert client.order_error(side="buy", tradeSide="open", size="0.01") == (400, open_code)
    if close_code is None:
        client.order(side="buy", tradeSide="close", size="0.01")
        client.post(PLACE_TPSL, tpsl("pos_loss", "70000"))
    else:
        assert client.order_error(side="buy", tradeSide="close", size="0.01") == (400, close_code)
        assert client.error("POST", PLACE_TPSL, body=tpsl("pos_loss", "70000")) == (400, close_code)
        flash = client.post("/api/v2/mix/order/close-positions", {"productType": PT})
        assert flash["successList"] == [] and flash["failureList"][0]["errorCode"] == close_code
    if status == "restrictedAPI":  # the operator page is not the API: it still trades
        sim.exchange.trade("Master", "close", symbol="BTCUSDT", side="long")
    other = client.get("/api/v2/mix/market/contracts", productType=PT, symbol="ETHUSDT")[0]
    assert other["symbolStatus"] == "normal"
    assert requests.get(f"{sim.url}/_sim/symbols", timeout=5).json()["BTCUSDT"] == status
    sim.exchange.reset()
    assert sim.exchange.symbol_statuses()["BTCUSDT"] == "normal"


def test_a_contract_with_price_end_step_5_refuses_off_tick_prices(sim, client: SignedClient):
    row = client.get("/api/v2/mix/market/contracts", productType=PT, symbol="SOLUSDT")[0]
    assert (row["pricePlace"], row["priceEndStep"]) == ("3", "5")
    base = {"symbol": "SOLUSDT", "side": "buy", "tradeSide": "open", "size": "1", "orderType": "limit"}
    assert client.order_error(**base, price="130.001") == (400, "45115")  # 3 decimals, yet off the 0.005 tick
    assert client.order(**base, price="130.005")["orderId"]
