"""Account endpoints: balances and equity, leverage, margin mode and position mode."""
from __future__ import annotations

from decimal import Decimal as D

from .conftest import PT, SignedClient, assert_keys, fixture_data

SET_LEVERAGE = "/api/v2/mix/account/set-leverage"
SET_MARGIN = "/api/v2/mix/account/set-margin-mode"
SET_POS_MODE = "/api/v2/mix/account/set-position-mode"
BASE = {"symbol": "BTCUSDT", "productType": PT, "marginCoin": "USDT"}


def test_account_and_accounts_shapes_and_defaults(client: SignedClient) -> None:
    acc = client.account()
    assert_keys(acc, fixture_data("mix_account_account"))
    assert (acc["marginMode"], acc["posMode"], acc["crossedMarginLeverage"]) == ("crossed", "hedge_mode", "20")
    assert (acc["isolatedLongLever"], acc["isolatedShortLever"]) == ("20", "20")
    assert acc["accountEquity"] == acc["available"] == "10000"
    rows = client.get("/api/v2/mix/account/accounts", productType=PT)
    assert len(rows) == 1
    assert_keys(rows[0], fixture_data("mix_account_accounts")[0], extra={"unionTotalMargin"})


def test_equity_is_balance_plus_unrealized_pnl(sim, client: SignedClient) -> None:
    client.order(side="buy", tradeSide="open", size="0.1")
    fee = D("0.1") * 84000 * D("0.0006")
    sim.exchange.set_price("BTCUSDT", "85000")
    acc = client.account()
    assert D(acc["unrealizedPL"]) == D("100")
    assert D(acc["accountEquity"]) == D("10000") - fee + D("100")
    row = client.position()
    assert D(row["unrealizedPL"]) == D("100") and row["markPrice"] == "85000"
    assert D(row["marginSize"]) == D("420")  # 0.1 * 84000 / 20 (default cross leverage)
    assert D(acc["available"]) == D("10000") - fee - D("420")


def test_realized_pnl_moves_the_balance_on_close(sim, client: SignedClient) -> None:
    client.order(side="sell", tradeSide="open", size="0.1")
    sim.exchange.set_price("BTCUSDT", "83000")
    client.order(side="sell", tradeSide="close", size="0.1")
    fees = D("0.1") * 84000 * D("0.0006") + D("0.1") * 83000 * D("0.0006")
    assert D(client.account()["accountEquity"]) == D("10000") + D("100") - fees
    assert client.positions() == []


def test_set_leverage_crossed(client: SignedClient) -> None:
    data = client.post(SET_LEVERAGE, {**BASE, "leverage": "10"})
    assert_keys(data, fixture_data("mix_account_set_leverage"))
    assert (data["crossMarginLeverage"], data["marginMode"]) == ("10", "crossed")
    assert client.account()["crossedMarginLeverage"] == "10"


def test_set_leverage_isolated_hedge_per_side_or_both(client: SignedClient) -> None:
    client.post(SET_MARGIN, {**BASE, "marginMode": "isolated"})
    data = client.post(SET_LEVERAGE, {**BASE, "leverage": "5", "holdSide": "long"})
    assert (data["longLeverage"], data["shortLeverage"]) == ("5", "20")
    data = client.post(SET_LEVERAGE, {**BASE, "leverage": "8"})
    assert (data["longLeverage"], data["shortLeverage"]) == ("8", "8")
    data = client.post(SET_LEVERAGE, {**BASE, "longLeverage": "3", "shortLeverage": "4"})
    assert (data["longLeverage"], data["shortLeverage"]) == ("3", "4")
    acc = client.account()
    assert (acc["isolatedLongLever"], acc["isolatedShortLever"], acc["marginMode"]) == ("3", "4", "isolated")


def test_leverage_above_max_is_rejected(client: SignedClient) -> None:
    assert client.error("POST", SET_LEVERAGE, body={**BASE, "leverage": "126"}) == (400, "45045")
    assert client.error("POST", SET_LEVERAGE, body={**BASE, "symbol": "ETHUSDT", "leverage": "101"}) == (400, "45045")
    assert client.post(SET_LEVERAGE, {**BASE, "leverage": "125"})["crossMarginLeverage"] == "125"


def test_set_margin_mode_only_while_flat(client: SignedClient) -> None:
    data = client.post(SET_MARGIN, {**BASE, "marginMode": "isolated"})
    assert_keys(data, fixture_data("mix_account_set_margin_mode"))
    assert client.post(SET_MARGIN, {**BASE, "marginMode": "isolated"})["marginMode"] == "isolated"  # idempotent
    client.order(side="buy", tradeSide="open", size="0.01", marginMode="isolated")
    assert client.error("POST", SET_MARGIN, body={**BASE, "marginMode": "crossed"}) == (400, "45117")
    assert client.post(SET_MARGIN, {**BASE, "symbol": "ETHUSDT", "marginMode": "isolated"})  # other symbol is fine


def test_set_position_mode_only_while_flat(client: SignedClient) -> None:
    data = client.post(SET_POS_MODE, {"productType": PT, "posMode": "one_way_mode"})
    assert_keys(data, fixture_data("mix_account_set_position_mode"))
    assert client.account()["posMode"] == "one_way_mode"
    client.order(side="buy", size="0.01")
    assert client.error("POST", SET_POS_MODE, body={"productType": PT, "posMode": "hedge_mode"}) == (400, "40920")
    assert client.post(SET_POS_MODE, {"productType": PT, "posMode": "one_way_mode"})["posMode"] == "one_way_mode"


def test_isolated_and_crossed_positions_record_their_mode_and_leverage(client: SignedClient) -> None:
    client.post(SET_MARGIN, {**BASE, "marginMode": "isolated"})
    client.post(SET_LEVERAGE, {**BASE, "leverage": "10"})
    client.order(side="buy", tradeSide="open", size="0.017", marginMode="isolated")
    client.post(SET_LEVERAGE, {**BASE, "symbol": "ETHUSDT", "leverage": "50"})
    client.order(symbol="ETHUSDT", side="sell", tradeSide="open", size="1")
    btc, eth = client.position("BTCUSDT", "long"), client.position("ETHUSDT", "short")
    assert (btc["marginMode"], btc["leverage"], D(btc["marginSize"])) == ("isolated", "10", D("142.8"))
    assert (eth["marginMode"], eth["leverage"], D(eth["marginSize"])) == ("crossed", "50", D("44"))
    acc = client.get("/api/v2/mix/account/accounts", productType=PT)[0]
    assert (D(acc["isolatedMargin"]), D(acc["crossedMargin"])) == (D("142.8"), D("44"))
    assert D(btc["liquidationPrice"]) > 0 and D(btc["liquidationPrice"]) < 84000


def test_changing_leverage_remargins_an_open_position(client: SignedClient) -> None:
    client.order(side="buy", tradeSide="open", size="0.1")
    client.post(SET_LEVERAGE, {**BASE, "leverage": "10"})
    row = client.position()
    assert (row["leverage"], D(row["marginSize"])) == ("10", D("840"))


def test_single_position_shape(client: SignedClient) -> None:
    client.order(side="buy", tradeSide="open", size="0.01")
    client.order(side="sell", tradeSide="open", size="0.02")
    rows = client.get("/api/v2/mix/position/single-position", **BASE)
    assert sorted(r["holdSide"] for r in rows) == ["long", "short"]
    for row in rows:
        assert_keys(row, fixture_data("mix_position_single_position")[0])
    assert client.get("/api/v2/mix/position/single-position", **{**BASE, "symbol": "ETHUSDT"}) == []


def test_all_position_shape_and_empty(client: SignedClient) -> None:
    assert client.positions() == []
    client.order(side="buy", tradeSide="open", size="0.017")
    row = client.positions()[0]
    assert_keys(row, fixture_data("mix_position_all_position")[0])
    assert (row["takeProfit"], row["stopLoss"], row["takeProfitId"], row["stopLossId"]) == ("", "", "", "")
    assert (row["total"], row["available"], row["locked"], row["openPriceAvg"]) == ("0.017", "0.017", "0", "84000")
