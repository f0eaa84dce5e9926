"""Fills: the wire fixture parsed into Fill / FillPage, and the query BitgetClient.fills sends."""
from __future__ import annotations

from decimal import Decimal as D
from urllib.parse import parse_qsl, urlsplit

from app.bitget.models import Fill, FillPage

from .conftest import BASE, load, make_client, mock_http

PATH = "/api/v2/mix/order/fills"


def test_fill_fixture_parses_field_for_field() -> None:
    data = load("mix_order_fills")["data"]
    assert Fill.from_wire(data["fillList"][0]) == Fill(
        trade_id="1279727743511703553", order_id="1279727743218102276", symbol="BTCUSDT", price=D("84701"),
        base_volume=D("0.017"), profit=D("0"), fee=D("-0.8639502"), side="buy", trade_side="open",
        c_time=1740836790811)
    page = FillPage.from_wire(data)
    assert page.end_id == "1279727743511703553" and len(page.fills) == 1
    assert page.fills[0].realized == D("-0.8639502")


def test_fee_is_the_sum_of_fee_detail_and_null_lists_are_empty() -> None:
    row = {"tradeId": "2", "profit": "-12.5", "feeDetail": [{"totalFee": "-1.25"}, {"totalFee": "-0.05"}]}
    fill = Fill.from_wire(row)
    assert (fill.fee, fill.realized, fill.c_time) == (D("-1.3"), D("-13.8"), None)
    assert Fill.from_wire({"tradeId": "3", "feeDetail": None}).fee == D("0")
    assert FillPage.from_wire({"fillList": None, "endId": None}) == FillPage(fills=(), end_id=None)
    assert FillPage.from_wire(None) == FillPage(fills=(), end_id=None)


def test_client_fills_sends_the_filters_and_caps_the_limit() -> None:
    client = make_client()
    with mock_http() as rsps:
        rsps.get(BASE + PATH, json=load("mix_order_fills"))
        page = client.fills(symbol="btcusdt", start_time=1740836790000, id_less_than="1279727743511703553",
                            limit=500)
    query = dict(parse_qsl(urlsplit(rsps.calls[0].request.url).query))
    assert query == {"productType": "USDT-FUTURES", "symbol": "BTCUSDT", "startTime": "1740836790000",
                     "idLessThan": "1279727743511703553", "limit": "100"}
    assert page.fills[0].trade_id == "1279727743511703553"
    assert "ACCESS-SIGN" in rsps.calls[0].request.headers
