"""Planning rules: sizing, minimums, caps, risk limits and guards."""
from __future__ import annotations

from decimal import Decimal

from app.engine.replication.plan import LinkChange
from app.engine.replication.sizing import target_size

from .builders import (
    kinds,
    make_client,
    make_contract,
    make_link,
    make_master,
    make_position,
    only,
    plan_for,
    skip_reasons,
)

D = Decimal
BTC = make_contract("BTCUSDT")


def test_new_copy_sets_margin_mode_then_leverage_then_opens_and_links() -> None:
    plan = plan_for(make_master(make_position()), make_client())
    assert kinds(plan) == ["set_margin_mode", "set_leverage", "open"]
    opened = only(plan, "open")
    assert (opened.size, opened.hold_side, opened.margin_mode, opened.leverage) == (D("0.0102"), "long", "crossed", 10)
    assert opened.reason == "open 0.0102 BTCUSDT long (master 0.017 x 0.6)"
    assert plan.link_changes == (LinkChange("create", "BTCUSDT", "long", D("0.6"), master_size=D("0.017"),
                                            master_entry=D("60000"), master_opened_ms=2_000),)
    assert not plan.skips and not plan.is_empty


def test_sizing_modes_through_the_planner() -> None:
    master = make_master(make_position())
    assert only(plan_for(master, make_client(sizing_value=D("0.5"))), "open").size == D("0.0051")
    multiplier = make_client(sizing_mode="multiplier", sizing_value=D("2"))
    assert only(plan_for(master, multiplier), "open").size == D("0.034")
    # 100 USDT margin at 10x and 60000 = 0.01666.. BTC, floored to the step
    fixed = make_client(sizing_mode="fixed_margin", sizing_value=D("100"))
    assert only(plan_for(master, fixed), "open").size == D("0.0166")


def test_fixed_margin_uses_the_capped_leverage() -> None:
    master = make_master(make_position(leverage=20))
    client = make_client(sizing_mode="fixed_margin", sizing_value=D("100"), max_leverage=5)
    assert only(plan_for(master, client), "open").size == D("0.0083")  # 500 USDT notional


def test_zero_equity_skips_with_reason() -> None:
    plan = plan_for(make_master(make_position()), make_client(equity=D("0")))
    assert plan.is_empty and "client equity is 0" in skip_reasons(plan)[0]
    plan = plan_for(make_master(make_position(), equity=D("0")), make_client())
    assert plan.is_empty and "master equity is 0" in skip_reasons(plan)[0]


def test_target_rounds_down_to_the_step() -> None:
    plan = plan_for(make_master(make_position(total=D("0.0179"))), make_client())
    assert only(plan, "open").size == D("0.0107")


def test_frozen_factor_on_increase() -> None:
    client = make_client(
        equity=D("99999"),  # equity moved a lot: the frozen factor ignores it
        positions=[make_position(total=D("0.0085"))],
        links=[make_link(factor=D("0.5"))],
    )
    plan = plan_for(make_master(make_position(total=D("0.03"))), client)
    assert kinds(plan) == ["open"]  # no set ops for an existing position
    assert only(plan, "open").size == D("0.0065")
    assert "increase BTCUSDT long by 0.0065 to 0.015" in only(plan, "open").reason
    # the frozen factor stays; the link only remembers the master's size and entry it now mirrors
    assert plan.link_changes == (LinkChange("snapshot", "BTCUSDT", "long", master_size=D("0.03"),
                                            master_entry=D("60000")),)


def test_frozen_factor_on_partial_close() -> None:
    client = make_client(positions=[make_position(total=D("0.0085"))], links=[make_link(factor=D("0.5"))])
    plan = plan_for(make_master(make_position(total=D("0.01"))), client)
    close = only(plan, "close")
    assert (close.size, close.full) == (D("0.0035"), False)
    assert close.reason == "reduce BTCUSDT long by 0.0035 to 0.005 (master 0.01 x 0.5)"


def test_in_sync_is_empty() -> None:
    link = make_link(master_size=D("0.017"), master_entry=D("60000"))
    client = make_client(positions=[make_position(total=D("0.0102"))], links=[link])
    plan = plan_for(make_master(make_position()), client)
    assert plan.is_empty and not plan.skips and not plan.link_changes


def test_below_minimum_skip_names_the_minimum() -> None:
    plan = plan_for(make_master(make_position(total=D("0.0000666666666666666666666667"))), make_client())
    assert plan.is_empty and not plan.link_changes
    assert skip_reasons(plan) == ["Size 0.00004 is below BTCUSDT minimum 0.0001"]


def test_below_minimum_notional_is_skipped() -> None:
    plan = plan_for(make_master(make_position(symbol="DOGEUSDT", total=D("20"))), make_client())
    assert plan.is_empty
    assert "below DOGEUSDT minimum notional 5 USDT" in skip_reasons(plan)[0]


def test_round_up_new_copy_and_freeze_a_matching_factor() -> None:
    contracts = {"BTCUSDT": make_contract("BTCUSDT", min_trade_num=D("0.001"))}
    master = make_master(make_position(total=D("0.0015")))
    plan = plan_for(master, make_client(below_min_rule="round_up"), contracts=contracts)
    opened = only(plan, "open")
    assert opened.size == D("0.001") and "rounded up from 0.0009 to the minimum 0.001" in opened.reason
    factor = plan.link_changes[0].factor
    assert factor is not None and target_size(D("0.0015"), factor, contracts["BTCUSDT"]) == D("0.001")
    synced = make_client(
        below_min_rule="round_up",
        positions=[make_position(total=D("0.001"))],
        links=[make_link(factor=factor)],
    )
    assert plan_for(master, synced, contracts=contracts).is_empty


def test_round_up_refused_beyond_the_factor() -> None:
    contracts = {"BTCUSDT": make_contract("BTCUSDT", min_trade_num=D("0.001"))}
    plan = plan_for(make_master(make_position(total=D("0.0008"))), make_client(below_min_rule="round_up"), contracts=contracts)
    assert plan.is_empty
    assert skip_reasons(plan) == [
        "Size 0.0004 is below BTCUSDT minimum 0.001; rounding up to 0.001 would exceed 2x the exact size 0.00048"
    ]


def test_round_up_not_applied_to_increases() -> None:
    contracts = {"BTCUSDT": make_contract("BTCUSDT", min_trade_num=D("0.001"))}
    client = make_client(below_min_rule="round_up", positions=[make_position(total=D("0.006"))], links=[make_link()])
    plan = plan_for(make_master(make_position(total=D("0.0110"))), client, contracts=contracts)
    assert plan.is_empty and "below BTCUSDT minimum 0.001" in skip_reasons(plan)[0]


def test_max_notional_caps_a_new_copy() -> None:
    master = make_master(make_position(total=D("0.05")))
    plan = plan_for(master, make_client(max_notional=D("1000")))
    opened = only(plan, "open")
    assert opened.size == D("0.0166")
    assert "capped at 0.0166 by max notional 1000 USDT at mark 60000 (target 0.03)" in opened.reason
    factor = plan.link_changes[0].factor
    assert factor is not None and target_size(D("0.05"), factor, BTC) == D("0.0166")


def test_max_notional_blocks_growth_but_never_shrinks() -> None:
    client = make_client(max_notional=D("1000"), positions=[make_position(total=D("0.0166"))], links=[make_link()])
    plan = plan_for(make_master(make_position(total=D("0.06"))), client)
    assert plan.is_empty and "not increased: capped at 0.0166" in skip_reasons(plan)[0]
    # the price doubled: the cap is now 0.0083 but the copy is not reduced for it
    doubled = plan_for(make_master(make_position(total=D("0.0277"))), client, marks={"BTCUSDT": D("120000")})
    assert doubled.is_empty


def test_max_open_positions() -> None:
    own = make_position(symbol="ETHUSDT", total=D("1"))
    plan = plan_for(make_master(make_position()), make_client(max_open_positions=1, positions=[own]))
    assert plan.is_empty and skip_reasons(plan) == ["max open positions 1 reached: BTCUSDT long not opened"]
    master = make_master(make_position(), make_position(symbol="ETHUSDT", total=D("1")))
    plan = plan_for(master, make_client(max_open_positions=1))
    assert [op.symbol for op in plan.operations if op.kind == "open"] == ["BTCUSDT"]
    assert skip_reasons(plan) == ["max open positions 1 reached: ETHUSDT long not opened"]


def test_closing_frees_a_slot() -> None:
    old = make_position(symbol="ETHUSDT", total=D("0.6"))
    client = make_client(max_open_positions=1, positions=[old], links=[make_link("ETHUSDT")])
    plan = plan_for(make_master(make_position()), client)
    assert [op.kind for op in plan.operations if op.kind in ("open", "close")] == ["close", "open"]


def test_allowed_symbols() -> None:
    plan = plan_for(make_master(make_position()), make_client(allowed_symbols=frozenset({"ETHUSDT"})))
    assert plan.is_empty and skip_reasons(plan) == ["BTCUSDT is not in this client's allowed symbols"]


def test_allowed_symbols_still_reduce_and_close_existing_copies() -> None:
    client = make_client(
        allowed_symbols=frozenset({"ETHUSDT"}),
        positions=[make_position(total=D("0.0102"))],
        links=[make_link()],
    )
    assert only(plan_for(make_master(make_position(total=D("0.01"))), client), "close").size == D("0.0042")
    grow = plan_for(make_master(make_position(total=D("0.03"))), client)
    assert grow.is_empty and "not in this client's allowed symbols" in skip_reasons(grow)[0]
    assert only(plan_for(make_master(), client), "close").full


def test_paused_client_gets_one_skip_and_nothing_else() -> None:
    client = make_client(paused=True, positions=[make_position(symbol="ETHUSDT")], links=[make_link("ETHUSDT")])
    plan = plan_for(make_master(make_position()), client)
    assert plan.is_empty and not plan.link_changes
    assert [(s.symbol, s.reason) for s in plan.skips] == [("", "client is paused")]


def test_open_block_reason_blocks_opens_and_increases_only() -> None:
    master = make_master(make_position(total=D("0.03"), take_profit=D("70000")), make_position(symbol="ETHUSDT"))
    client = make_client(
        open_block_reason="daily loss limit reached",
        positions=[make_position(total=D("0.0102")), make_position(symbol="DOGEUSDT", total=D("100"))],
        links=[make_link(), make_link("DOGEUSDT")],
    )
    plan = plan_for(master, client)
    assert kinds(plan) == ["close", "place_tpsl"]  # DOGE (master gone) closed first, then BTC's TP placed
    reasons = skip_reasons(plan)
    assert reasons == ["daily loss limit reached: opens and increases are blocked"] * 2
    reduce = plan_for(make_master(make_position(total=D("0.01"))), client)
    assert [op.size for op in reduce.operations if op.symbol == "BTCUSDT"] == [D("0.0042")]


def test_slippage_guard_long_and_short() -> None:
    long_master = make_master(make_position(open_price_avg=D("60000")))
    plan = plan_for(long_master, make_client(), marks={"BTCUSDT": D("60400")})
    assert plan.is_empty
    assert skip_reasons(plan) == ["mark 60400 is 0.67% from the master's entry 60000, beyond the 0.5% slippage guard"]
    assert not plan_for(long_master, make_client(), marks={"BTCUSDT": D("59000")}).is_empty  # favourable
    assert not plan_for(long_master, make_client(), marks={"BTCUSDT": D("60300")}).is_empty  # within 0.5%
    short_master = make_master(make_position(hold_side="short", open_price_avg=D("60000")))
    assert plan_for(short_master, make_client(), marks={"BTCUSDT": D("59600")}).is_empty
    assert not plan_for(short_master, make_client(), marks={"BTCUSDT": D("61000")}).is_empty
    disabled = make_client(slippage_pct=None)
    assert not plan_for(long_master, disabled, marks={"BTCUSDT": D("90000")}).is_empty


def test_slippage_guard_never_blocks_reductions() -> None:
    client = make_client(positions=[make_position(total=D("0.0102"))], links=[make_link()])
    master = make_master(make_position(total=D("0.01"), open_price_avg=D("60000")))
    plan = plan_for(master, client, marks={"BTCUSDT": D("70000")})
    assert only(plan, "close").size == D("0.0042")


def test_copy_existing_off_and_on() -> None:
    master = make_master(make_position(c_time=500))
    plan = plan_for(master, make_client(following_since_ms=1_000))
    assert plan.is_empty
    assert skip_reasons(plan) == [
        "master BTCUSDT long was opened before this client started following (copy existing positions is off)"
    ]
    assert only(plan_for(master, make_client(following_since_ms=1_000, copy_existing=True)), "open")
    linked = make_client(following_since_ms=1_000, positions=[make_position(total=D("0.005"))], links=[make_link()])
    assert only(plan_for(master, linked), "open").size == D("0.0052")
