"""Wire fixtures parsed into the frozen dataclasses, field for field."""
from __future__ import annotations

import dataclasses
from decimal import Decimal as D

import pytest

from app.bitget.models import (
    AccountBalance,
    BatchFailure,
    BatchResult,
    Contract,
    KeyInfo,
    Order,
    OrderAck,
    PlanOrder,
    Position,
    SymbolAccount,
    Ticker,
)

from .conftest import load


def data(name: str):
    return load(name)["data"]


def contracts() -> dict[str, Contract]:
    return {c.symbol: c for c in map(Contract.from_wire, data("mix_market_contracts"))}


def test_contract_btcusdt_fields() -> None:
    assert contracts()["BTCUSDT"] == Contract(
        symbol="BTCUSDT", base_coin="BTC", quote_coin="USDT", min_trade_num=D("0.0001"),
        size_multiplier=D("0.0001"), volume_place=4, price_place=1, price_end_step=D("1"),
        min_trade_usdt=D("5"), min_lever=1, max_lever=125, max_market_order_qty=D("220"),
        max_order_qty=D("1200"), symbol_status="normal")


def test_contract_other_rows() -> None:
    eth, doge = contracts()["ETHUSDT"], contracts()["DOGEUSDT"]
    assert (eth.min_trade_num, eth.size_step, eth.tick, eth.max_lever) == (D("0.01"), D("0.01"), D("0.01"), 100)
    assert (doge.size_step, doge.tick, doge.symbol_status) == (D("1"), D("0.00001"), "limit_open")
    assert doge.max_market_order_qty == D("2000000")


@pytest.mark.parametrize(("symbol", "raw", "floored"), [
    ("BTCUSDT", "0.01739", "0.0173"),
    ("BTCUSDT", "0.0173", "0.0173"),
    ("BTCUSDT", "0.00009", "0.0000"),
    ("ETHUSDT", "0.529", "0.52"),
    ("DOGEUSDT", "123.99", "123"),
])
def test_contract_size_floors_to_step(symbol: str, raw: str, floored: str) -> None:
    got = contracts()[symbol].round_size_down(D(raw))
    assert got == D(floored) and str(got) == floored


@pytest.mark.parametrize(("symbol", "raw", "rounded"), [
    ("BTCUSDT", "84491.26", "84491.3"),
    ("BTCUSDT", "84491.24", "84491.2"),
    ("BTCUSDT", "90000", "90000.0"),
    ("ETHUSDT", "2215.374", "2215.37"),
    ("DOGEUSDT", "0.123456", "0.12346"),
])
def test_contract_price_rounds_to_tick(symbol: str, raw: str, rounded: str) -> None:
    assert str(contracts()[symbol].round_price(D(raw))) == rounded


def test_contract_price_on_coarse_tick() -> None:
    row = {**data("mix_market_contracts")[0], "priceEndStep": "5"}
    contract = Contract.from_wire(row)
    assert contract.tick == D("0.5")
    assert contract.round_price(D("84491.26")) == D("84491.5")


def test_ticker() -> None:
    assert Ticker.from_wire(data("mix_market_ticker")[0]) == Ticker(
        symbol="BTCUSDT", last_price=D("84492.3"), mark_price=D("84491"), index_price=D("84527.8142"),
        bid_price=D("84492.3"), ask_price=D("84492.4"), ts=1740834947303)


def test_symbol_account() -> None:
    account = SymbolAccount.from_wire(data("mix_account_account"))
    assert account == SymbolAccount(
        margin_coin="USDT", equity=D("2509.86186522"), available=D("2369.44016522"), unrealized_pl=D("-3.57"),
        margin_mode="isolated", pos_mode="hedge_mode", crossed_leverage=20, isolated_long_leverage=10,
        isolated_short_leverage=10, asset_mode="single")
    assert account.leverage_for("crossed", "long") == 20
    assert account.leverage_for("isolated", "short") == 10


def test_accounts_row() -> None:
    balance = AccountBalance.from_wire(data("mix_account_accounts")[0])
    assert balance == AccountBalance(
        margin_coin="USDT", equity=D("2509.86186522"), usdt_equity=D("2509.861865227"),
        available=D("2369.44016522"), locked=D("0"), unrealized_pl=D("-3.57"), crossed_margin=D("0"),
        isolated_margin=D("143.9917"), asset_mode="single")
    assert balance.margin_used == D("143.9917")


def test_all_position_with_tpsl() -> None:
    btc, eth = map(Position.from_wire, data("mix_position_all_position"))
    assert btc == Position(
        symbol="BTCUSDT", margin_coin="USDT", hold_side="long", total=D("0.017"), available=D("0.017"),
        locked=D("0"), open_price_avg=D("84701"), leverage=10, margin_mode="isolated", pos_mode="hedge_mode",
        margin_size=D("143.9917"), unrealized_pl=D("-3.57"), achieved_profits=D("0"),
        liquidation_price=D("76583.182640144666"), mark_price=D("84491"), take_profit=D("90000"),
        stop_loss=D("82000"), take_profit_id="1279733405873831937", stop_loss_id="1279733406184210432",
        c_time=1740834529467, u_time=1740834529467)
    assert btc.key == ("BTCUSDT", "long")


def test_all_position_empty_takeprofit_is_none() -> None:
    eth = Position.from_wire(data("mix_position_all_position")[1])
    assert (eth.symbol, eth.hold_side, eth.total, eth.leverage, eth.margin_mode) == (
        "ETHUSDT", "short", D("0.52"), 20, "crossed")
    assert (eth.take_profit, eth.stop_loss, eth.take_profit_id, eth.stop_loss_id) == (None, None, None, None)
    assert eth.unrealized_pl == D("4.6228") and eth.u_time == 1740833100000


def test_all_position_empty_and_legacy_demo() -> None:
    assert data("mix_position_all_position__empty") == []
    legacy = Position.from_wire(data("mix_position_all_position__demo_legacy")[0])
    assert (legacy.symbol, legacy.margin_coin, legacy.total) == ("SBTCSUSDT", "SUSDT", D("0.017"))


def test_single_position_one_way() -> None:
    pos = Position.from_wire(data("mix_position_single_position")[0])
    assert (pos.symbol, pos.hold_side, pos.pos_mode, pos.margin_mode) == (
        "BTCUSDT", "short", "one_way_mode", "crossed")
    assert (pos.total, pos.available, pos.open_price_avg, pos.liquidation_price) == (
        D("0.0025"), D("0.0025"), D("84898.6"), D("92710.5514"))
    assert pos.take_profit is None and pos.stop_loss is None
    assert pos.unrealized_pl_ratio == D("1.0190") / D("21.2246")


def test_liquidation_price_not_positive_is_none() -> None:
    row = {**data("mix_position_single_position")[0], "liquidationPrice": "-1"}
    assert Position.from_wire(row).liquidation_price is None


def test_place_order_ack() -> None:
    assert OrderAck.from_wire(data("mix_order_place_order")) == OrderAck(
        order_id="1279727743218102276", client_oid="1740836789613")
    assert OrderAck.from_wire(data("mix_order_place_order")).replayed is False


@pytest.mark.parametrize("name", ["mix_order_cancel_order", "mix_order_place_tpsl_order",
                                  "mix_order_modify_tpsl_order"])
def test_other_acks(name: str) -> None:
    row = data(name)
    assert OrderAck.from_wire(row) == OrderAck(order_id=row["orderId"], client_oid=row["clientOid"])


def test_batch_place_result() -> None:
    assert BatchResult.from_wire(data("mix_order_batch_place_order")) == BatchResult(
        successes=(OrderAck("1279727743432011777", "cp-7f3a-c01-open"),),
        failures=(BatchFailure(order_id=None, client_oid="cp-7f3a-c02-open", symbol=None, code="45111",
                               message="less than the minimum order quantity"),))


def test_close_positions_result_false_is_ignored() -> None:
    result = BatchResult.from_wire(data("mix_order_close_positions"))
    assert result.successes == (OrderAck("1279996619172511750", "1279996619172511757"),)
    assert result.failures == () and result.symbols == ("BTCUSDT",)


def test_null_lists_are_empty() -> None:
    assert BatchResult.from_wire({"successList": None, "failureList": None}) == BatchResult((), ())
    assert BatchResult.from_wire(None) == BatchResult((), ())


def test_orders_pending_row() -> None:
    row = data("mix_order_orders_pending")["entrustedList"][0]
    assert Order.from_wire(row) == Order(
        order_id="1279731026154766336", client_oid="cp-7f3a-c01-lim", symbol="BTCUSDT", size=D("0.0042"),
        price=D("83000.0"), price_avg=None, filled_size=D("0"), status="live", side="buy", pos_side="long",
        trade_side="open", order_type="limit", reduce_only=False, leverage=10, margin_mode="isolated",
        c_time=1740836995120, u_time=1740836995120)


def test_orders_pending_empty_is_null() -> None:
    assert data("mix_order_orders_pending__empty") == {"entrustedList": None, "endId": None}


def test_order_detail_reads_state() -> None:
    order = Order.from_wire(data("mix_order_detail"))
    assert (order.status, order.price, order.price_avg, order.filled_size) == (
        "filled", None, D("84701"), D("0.017"))
    assert (order.order_id, order.client_oid, order.order_type, order.reduce_only) == (
        "1279727743218102276", "1740836789613", "market", False)


def test_plan_pending_rows() -> None:
    tp, sl = map(PlanOrder.from_wire, data("mix_order_orders_plan_pending")["entrustedList"])
    assert tp == PlanOrder(
        order_id="1279733405873831937", client_oid="cp-7f3a-c01-tp", plan_type="pos_profit", symbol="BTCUSDT",
        size=D("0"), trigger_price=D("90000"), trigger_type="mark_price", execute_price=None,
        plan_status="live", side="buy", pos_side="long", trade_side="close")
    assert (sl.plan_type, sl.trigger_price, sl.order_id) == ("pos_loss", D("82000"), "1279733406184210432")
    assert tp.hold_side == "long" and sl.hold_side == "long"


def test_cancel_plan_result() -> None:
    result = BatchResult.from_wire(data("mix_order_cancel_plan_order"))
    assert result.successes == (OrderAck("1279733406184210432", "cp-7f3a-c01-sl"),)
    assert result.failures == (BatchFailure(order_id="1279733405873831937", client_oid=None, symbol=None,
                                            code=None, message="Plan order does not exist"),)


def test_key_info() -> None:
    info = KeyInfo.from_wire(data("spot_account_info"))
    assert info == KeyInfo(user_id="6271835190", authorities=("coor", "cpor", "coow", "cpow"),
                           ips="203.0.113.10", trader_type="not_trader")
    assert info.can_trade_futures


def test_models_are_frozen() -> None:
    ack = OrderAck("1", "c")
    with pytest.raises(dataclasses.FrozenInstanceError):
        ack.order_id = "2"  # type: ignore[misc]
