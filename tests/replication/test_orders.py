"""Order parameters per position mode (REFERENCE 9.1), TP/SL holdSide (10.1) and clientOid."""
from __future__ import annotations

import re
from decimal import Decimal

import pytest

from app.engine.replication.intents import client_oid
from app.engine.replication.orders import order_kwargs, tpsl_hold_side
from app.engine.replication.plan import Operation

D = Decimal


@pytest.mark.parametrize(
    ("pos_mode", "kind", "hold_side", "expected"),
    [
        ("hedge_mode", "open", "long", {"side": "buy", "trade_side": "open"}),
        ("hedge_mode", "close", "long", {"side": "buy", "trade_side": "close"}),
        ("hedge_mode", "open", "short", {"side": "sell", "trade_side": "open"}),
        ("hedge_mode", "close", "short", {"side": "sell", "trade_side": "close"}),
        ("one_way_mode", "open", "long", {"side": "buy"}),
        ("one_way_mode", "close", "long", {"side": "sell", "reduce_only": True}),
        ("one_way_mode", "open", "short", {"side": "sell"}),
        ("one_way_mode", "close", "short", {"side": "buy", "reduce_only": True}),
    ],
)
def test_order_kwargs_table(pos_mode: str, kind: str, hold_side: str, expected: dict[str, object]) -> None:
    op = Operation(kind, "BTCUSDT", hold_side, size=D("0.01"), step="o")
    kwargs = order_kwargs(op, pos_mode, "isolated")
    base = {"symbol": "BTCUSDT", "size": D("0.01"), "margin_mode": "isolated", "order_type": "market"}
    assert kwargs == {**base, **expected}


def test_one_way_never_sends_trade_side_and_hedge_never_reduce_only() -> None:
    for kind in ("open", "close"):
        op = Operation(kind, "BTCUSDT", "long", size=D("1"))
        assert "trade_side" not in order_kwargs(op, "one_way_mode", "crossed")
        assert "reduce_only" not in order_kwargs(op, "hedge_mode", "crossed")


def test_order_kwargs_rejects_non_orders_and_unknown_modes() -> None:
    with pytest.raises(ValueError):
        order_kwargs(Operation("place_tpsl", "BTCUSDT", "long", size=D("1")), "hedge_mode", "crossed")
    with pytest.raises(ValueError):
        order_kwargs(Operation("open", "BTCUSDT", "long", size=D("1")), "weird", "crossed")
    with pytest.raises(ValueError):
        order_kwargs(Operation("open", "BTCUSDT", "long"), "hedge_mode", "crossed")


@pytest.mark.parametrize(
    ("hold_side", "pos_mode", "expected"),
    [("long", "hedge_mode", "long"), ("short", "hedge_mode", "short"), ("long", "one_way_mode", "buy"),
     ("short", "one_way_mode", "sell")],
)
def test_tpsl_hold_side(hold_side: str, pos_mode: str, expected: str) -> None:
    assert tpsl_hold_side(hold_side, pos_mode) == expected


def test_tpsl_hold_side_unknown_mode() -> None:
    with pytest.raises(ValueError):
        tpsl_hold_side("long", "?")


OID = re.compile(r"^[A-Za-z0-9_-]{1,40}$")


def test_intent_client_oid_is_deterministic_short_and_distinct() -> None:
    first = client_oid("a1b2c3", 7, 12, "open", 1)
    assert first == client_oid("a1b2c3", 7, 12, "open", 1)  # the same intent, whichever run sends it
    assert OID.match(first) and len(first) < 40
    others = {
        client_oid("a1b2c3", 7, 12, "close", 1),
        client_oid("a1b2c3", 7, 12, "open", 2),
        client_oid("a1b2c3", 7, 13, "open", 1),
        client_oid("a1b2c3", 8, 12, "open", 1),
        client_oid("ffffff", 7, 12, "open", 1),  # another install never reuses this install's ids
        client_oid("a1b2c3", 7, 12, "tp", 1),
        client_oid("a1b2c3", 7, 12, "sl", 1),
    }
    assert first not in others and len(others) == 7
    assert OID.match(client_oid("ffffff", 123456789, 987654321, "close", 99999))
