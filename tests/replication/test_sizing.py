"""Sizing factor, grid rounding, minimums and caps."""
from __future__ import annotations

from decimal import Decimal

import pytest

from app.engine.replication.sizing import (
    below_minimum_reason,
    effective_leverage,
    fmt_decimal,
    is_adverse_move,
    link_factor_for,
    minimum_size,
    notional_cap_size,
    sizing_factor,
    sizing_problem,
    split_size,
    target_size,
)
from app.engine.replication.state import ClientSettings

from .builders import make_contract, make_position

D = Decimal


def factor(settings: ClientSettings, master_eq: str = "10000", client_eq: str = "6000", **kw: object) -> Decimal | None:
    position = make_position(total=D("0.017"))
    return sizing_factor(settings, D(master_eq), D(client_eq), position, kw.get("mark", D("60000")), kw.get("lev", 10))


def test_equity_ratio_times_sizing_value() -> None:
    assert factor(ClientSettings()) == D("0.6")
    assert factor(ClientSettings(sizing_value=D("0.5"))) == D("0.3")


def test_multiplier_is_the_value() -> None:
    assert factor(ClientSettings(sizing_mode="multiplier", sizing_value=D("2")), client_eq="1") == D("2")


def test_fixed_margin_buys_margin_times_leverage() -> None:
    # 100 USDT of margin at 10x = 1000 USDT notional = 1/60 BTC; master holds 0.017
    f = factor(ClientSettings(sizing_mode="fixed_margin", sizing_value=D("100")), mark=D("60000"), lev=10)
    assert f is not None
    assert (f * D("0.017") * D("60000") / 10).quantize(D("0.0001")) == D("100.0000")


@pytest.mark.parametrize(
    ("master_eq", "client_eq", "needle"),
    [("0", "6000", "master equity is 0"), ("10000", "0", "client equity is 0"), ("10000", "-5", "client equity is -5")],
)
def test_no_factor_without_positive_equity(master_eq: str, client_eq: str, needle: str) -> None:
    settings = ClientSettings()
    assert factor(settings, master_eq, client_eq) is None
    problem = sizing_problem(settings, D(master_eq), D(client_eq), D("60000"))
    assert problem is not None and needle in problem


def test_fixed_margin_needs_a_mark() -> None:
    settings = ClientSettings(sizing_mode="fixed_margin", sizing_value=D("100"))
    assert sizing_problem(settings, D("1"), D("1"), None) is not None
    assert factor(settings, mark=None) is None


def test_unknown_mode_and_non_positive_value_are_problems() -> None:
    assert "unknown sizing mode" in (sizing_problem(ClientSettings(sizing_mode="x"), D(1), D(1), D(1)) or "")
    assert "not positive" in (sizing_problem(ClientSettings(sizing_value=D(0)), D(1), D(1), D(1)) or "")


def test_target_rounds_down_to_the_step() -> None:
    contract = make_contract("BTCUSDT")
    assert target_size(D("0.017"), D("0.6"), contract) == D("0.0102")
    assert target_size(D("0.0179"), D("0.6"), contract) == D("0.0107")  # 0.01074 floored


def test_minimum_size_meets_both_minimums() -> None:
    contract = make_contract("BTCUSDT")
    assert minimum_size(contract, D("60000")) == D("0.0001")  # 6 USDT >= 5
    assert minimum_size(contract, D("30000")) == D("0.0002")  # 0.0001 is only 3 USDT
    assert minimum_size(make_contract("DOGEUSDT"), D("0.2")) == D("25")


def test_below_minimum_reason_names_the_minimum() -> None:
    contract = make_contract("BTCUSDT")
    assert below_minimum_reason(D("0.00004"), contract, D("60000")) == "Size 0.00004 is below BTCUSDT minimum 0.0001"
    notional = below_minimum_reason(D("0.0001"), contract, D("30000"))
    assert notional is not None and "minimum notional 5 USDT" in notional
    assert below_minimum_reason(D("0.001"), contract, D("60000")) is None


def test_notional_cap_floors_to_the_step() -> None:
    assert notional_cap_size(D("1000"), D("60000"), make_contract("BTCUSDT")) == D("0.0166")


def test_effective_leverage_caps() -> None:
    contract = make_contract("BTCUSDT", max_lever=50)
    assert effective_leverage(20, ClientSettings(), contract) == 20
    assert effective_leverage(20, ClientSettings(max_leverage=5), contract) == 5
    assert effective_leverage(75, ClientSettings(), contract) == 50


@pytest.mark.parametrize(("size", "total"), [("0.0001", "0.017"), ("0.0166", "0.05"), ("7", "3"), ("0.0103", "0.0179")])
def test_link_factor_reproduces_the_size(size: str, total: str) -> None:
    contract = make_contract("BTCUSDT")
    f = link_factor_for(D(size), D(total), contract)
    assert target_size(D(total), f, contract) == D(size)


def test_split_size_respects_max_market_qty() -> None:
    contract = make_contract("BTCUSDT", max_market_order_qty=D("2"))
    assert split_size(D("5.5"), contract) == [D("1.8334"), D("1.8333"), D("1.8333")]
    assert sum(split_size(D("4.0001"), contract)) == D("4.0001")
    assert split_size(D("4"), contract) == [D("2"), D("2")]
    assert split_size(D("1"), contract) == [D("1")]


def test_adverse_move() -> None:
    assert is_adverse_move("long", D("100"), D("100.6"), D("0.5"))
    assert not is_adverse_move("long", D("100"), D("100.5"), D("0.5"))
    assert not is_adverse_move("long", D("100"), D("90"), D("0.5"))
    assert is_adverse_move("short", D("100"), D("99.4"), D("0.5"))
    assert not is_adverse_move("short", D("100"), D("110"), D("0.5"))


def test_fmt_decimal() -> None:
    assert fmt_decimal(D("60000")) == "60000"
    assert fmt_decimal(D("0.01020")) == "0.0102"
    assert fmt_decimal(D("0.1234567"), 4) == "0.1235"
    assert fmt_decimal(D("0E-8")) == "0"
