"""Planning rules around links, one-way clients, setup operations, ordering and determinism."""
from __future__ import annotations

from decimal import Decimal

from app.engine.replication.plan import LinkChange
from app.engine.replication.planner import plan_replication

from .builders import (
    kinds,
    known_settings,
    make_client,
    make_contract,
    make_contracts,
    make_link,
    make_master,
    make_position,
    only,
    plan_for,
    skip_reasons,
)

D = Decimal


def test_unlinked_client_positions_are_never_touched() -> None:
    own_btc = make_position(total=D("0.5"))
    own_eth = make_position(symbol="ETHUSDT", total=D("3"))
    plan = plan_for(make_master(make_position()), make_client(positions=[own_btc, own_eth]))
    assert plan.is_empty and not plan.link_changes
    assert skip_reasons(plan) == ["the client holds its own BTCUSDT long (0.5), not a copy: left untouched"]


def test_master_closed_closes_the_copy_fully_and_deletes_the_link() -> None:
    client = make_client(
        positions=[make_position(total=D("0.0102"), margin_mode="isolated")],
        links=[make_link(), make_link("ETHUSDT", "short")],
    )
    plan = plan_for(make_master(), client)
    close = only(plan, "close")
    assert (close.size, close.full, close.margin_mode, close.step) == (D("0.0102"), True, "isolated", "c")
    assert close.reason == "close BTCUSDT long fully (0.0102): the master position is closed"
    assert plan.link_changes == (
        LinkChange("delete", "BTCUSDT", "long"),
        LinkChange("delete", "ETHUSDT", "short"),  # client position already gone: link only
    )


def test_partial_close_with_remainder_below_minimum_closes_fully() -> None:
    contracts = {"BTCUSDT": make_contract("BTCUSDT", min_trade_num=D("0.001"))}
    client = make_client(positions=[make_position(total=D("0.005"))], links=[make_link(factor=D("0.5"))])
    plan = plan_for(make_master(make_position(total=D("0.0015"))), client, contracts=contracts)
    close = only(plan, "close")
    assert (close.size, close.full) == (D("0.005"), True)
    assert "remainder 0.0007 would be below BTCUSDT minimum 0.001" in close.reason
    assert plan.link_changes == (LinkChange("park", "BTCUSDT", "long"),)  # the master still holds: link kept


def test_one_way_flip_closes_then_opens() -> None:
    client = make_client(
        pos_mode="one_way_mode",
        positions=[make_position(total=D("0.0102"), pos_mode="one_way_mode")],
        links=[make_link()],
        symbol_settings={"BTCUSDT": known_settings()},
    )
    plan = plan_for(make_master(make_position(hold_side="short")), client)
    assert [(op.kind, op.hold_side) for op in plan.operations] == [("close", "long"), ("open", "short")]
    assert only(plan, "close").full
    assert plan.link_changes == (
        LinkChange("delete", "BTCUSDT", "long"),
        LinkChange("create", "BTCUSDT", "short", D("0.6"), master_size=D("0.017"), master_entry=D("60000"),
                   master_opened_ms=2_000),
    )


def test_one_way_flip_may_set_margin_mode_after_the_close() -> None:
    client = make_client(
        pos_mode="one_way_mode", positions=[make_position(total=D("0.0102"))], links=[make_link()]
    )
    plan = plan_for(make_master(make_position(hold_side="short", margin_mode="isolated")), client)
    assert kinds(plan) == ["close", "set_margin_mode", "set_leverage", "open"]


def test_hedge_master_both_sides_on_a_one_way_client() -> None:
    master = make_master(
        make_position(hold_side="short", c_time=2_000), make_position(hold_side="long", c_time=3_000)
    )
    plan = plan_for(master, make_client(pos_mode="one_way_mode"))
    assert only(plan, "open").hold_side == "short"  # the master's first opened side
    assert skip_reasons(plan) == [
        "one-way client can hold only one side of BTCUSDT: mirroring the master's short, not its long"
    ]
    linked_long = make_client(
        pos_mode="one_way_mode", positions=[make_position(total=D("0.0102"))], links=[make_link()]
    )
    plan = plan_for(master, linked_long)
    assert plan.is_empty  # keeps mirroring the side it already copies
    assert "mirroring the master's long, not its short" in skip_reasons(plan)[0]


def test_hedge_client_mirrors_both_sides_with_one_margin_mode_call() -> None:
    master = make_master(make_position(), make_position(hold_side="short"))
    plan = plan_for(master, make_client())
    assert [(op.kind, op.hold_side) for op in plan.operations] == [
        ("set_margin_mode", "long"), ("set_leverage", "long"), ("open", "long"),
        ("set_leverage", "short"), ("open", "short"),
    ]


def test_one_way_client_does_not_open_against_its_own_other_side() -> None:
    own_short = make_position(hold_side="short", total=D("0.5"))
    plan = plan_for(make_master(make_position()), make_client(pos_mode="one_way_mode", positions=[own_short]))
    assert plan.is_empty
    assert "one-way client holds a BTCUSDT short position: a long order would net against it" in skip_reasons(plan)


def test_leverage_capped_by_client_and_contract() -> None:
    master = make_master(make_position(leverage=20))
    lever = only(plan_for(master, make_client(max_leverage=5)), "set_leverage")
    assert lever.leverage == 5 and "capped by the client's max 5x" in lever.reason
    contracts = {"BTCUSDT": make_contract("BTCUSDT", max_lever=10)}
    lever = only(plan_for(master, make_client(), contracts=contracts), "set_leverage")
    assert lever.leverage == 10 and "capped by BTCUSDT max 10x" in lever.reason
    assert only(plan_for(master, make_client(max_leverage=5)), "open").leverage == 5


def test_set_operations_only_when_different_or_unknown() -> None:
    master = make_master(make_position(leverage=10, margin_mode="crossed"))
    same = make_client(symbol_settings={"BTCUSDT": known_settings("crossed", 10)})
    assert kinds(plan_for(master, same)) == ["open"]
    other_mode = make_client(symbol_settings={"BTCUSDT": known_settings("isolated", 10)})
    assert kinds(plan_for(master, other_mode)) == ["set_margin_mode", "set_leverage", "open"]
    other_lever = make_client(symbol_settings={"BTCUSDT": known_settings("crossed", 5)})
    assert kinds(plan_for(master, other_lever)) == ["set_leverage", "open"]
    unknown = make_client()
    assert kinds(plan_for(master, unknown)) == ["set_margin_mode", "set_leverage", "open"]


def test_margin_mode_locked_by_another_position() -> None:
    own_short = make_position(hold_side="short", total=D("0.5"), margin_mode="isolated")
    client = make_client(positions=[own_short], symbol_settings={"BTCUSDT": known_settings("isolated", 10)})
    plan = plan_for(make_master(make_position(margin_mode="crossed")), client)
    assert "set_margin_mode" not in kinds(plan)
    opened = only(plan, "open")
    assert opened.margin_mode == "isolated"
    assert "margin mode isolated kept (the master uses crossed): the client holds another BTCUSDT position" in opened.reason


def test_unknown_contract_and_missing_mark() -> None:
    plan = plan_for(make_master(make_position(symbol="PEPEUSDT")), make_client())
    assert plan.is_empty and skip_reasons(plan) == ["no contract rules for PEPEUSDT: not copied"]
    no_mark = make_master(make_position(mark_price=D("0")))
    plan = plan_for(no_mark, make_client(sizing_mode="multiplier"))
    assert plan.is_empty and skip_reasons(plan) == ["no mark price for BTCUSDT: cannot size an order"]


def test_large_orders_are_split_at_max_market_qty() -> None:
    contracts = {"BTCUSDT": make_contract("BTCUSDT", max_market_order_qty=D("1"))}
    plan = plan_for(make_master(make_position(total=D("4"))), make_client(), contracts=contracts)
    opens = [op for op in plan.operations if op.kind == "open"]
    assert [(op.size, op.step) for op in opens] == [(D("0.8"), "o"), (D("0.8"), "o2"), (D("0.8"), "o3")]
    assert all("[order" in op.reason for op in opens)


def test_operations_are_ordered_by_symbol_and_steps_are_unique() -> None:
    master = make_master(
        make_position(symbol="ETHUSDT", total=D("2"), take_profit=D("4000")),
        make_position(symbol="BTCUSDT", hold_side="short", stop_loss=D("70000")),
        make_position(symbol="BTCUSDT", total=D("0.01")),
    )
    client = make_client(positions=[make_position(total=D("0.0102"))], links=[make_link()])
    plan = plan_for(master, client)
    symbols = [op.symbol for op in plan.operations]
    assert symbols == sorted(symbols)
    keys = [(op.symbol, op.hold_side, op.step) for op in plan.operations]
    assert len(keys) == len(set(keys))
    btc = [op.kind for op in plan.operations if op.symbol == "BTCUSDT"]
    # the client holds the long, so the margin mode is locked: no set_margin_mode for the new short
    assert btc == ["close", "set_leverage", "open", "place_tpsl"]


def test_plan_replication_is_deterministic_and_keeps_client_order() -> None:
    master = make_master(make_position(), make_position(symbol="ETHUSDT", hold_side="short", total=D("2")))
    clients = [make_client(account_id=2, name="bob", equity=D("3000")), make_client(account_id=1)]
    first = plan_replication(master, clients, make_contracts())
    reversed_master = make_master(*reversed(master.positions))
    assert plan_replication(reversed_master, clients, make_contracts()) == first
    assert [p.account_id for p in first] == [2, 1]


def test_positions_false_plans_no_position_changes() -> None:
    client = make_client(positions=[make_position(symbol="ETHUSDT")], links=[make_link("ETHUSDT")])
    plan = plan_for(make_master(make_position()), client, positions=False, tpsl=True)
    assert plan.is_empty and not plan.link_changes and not plan.skips


def test_one_way_client_switches_side_in_the_same_plan_when_its_copy_closes() -> None:
    contracts = {"BTCUSDT": make_contract("BTCUSDT", min_trade_num=D("0.001"))}
    master = make_master(
        make_position(hold_side="long", total=D("0.0015"), c_time=3_000),
        make_position(hold_side="short", total=D("0.017"), c_time=2_000),
    )
    client = make_client(pos_mode="one_way_mode", positions=[make_position(total=D("0.005"))], links=[make_link()])
    plan = plan_for(master, client, contracts=contracts)
    assert [(op.kind, op.hold_side) for op in plan.operations] == [
        ("close", "long"), ("set_margin_mode", "short"), ("set_leverage", "short"), ("open", "short"),
    ]
    assert "mirroring the master's short, not its long" in skip_reasons(plan)[0]
