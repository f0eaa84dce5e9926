"""TP/SL mirroring: place, modify, cancel, crossed triggers, tick rounding and the Copy TP/SL action."""
from __future__ import annotations

from decimal import Decimal

import pytest

from app.engine.replication.tpsl import is_trigger_crossed

from .builders import kinds, make_client, make_link, make_master, make_position, only, plan_for, skip_reasons

D = Decimal


def linked_client(**position: object) -> object:
    """A client holding a copy whose TP/SL (if any) the copier placed itself."""
    fields = {"total": D("0.0102"), **position}
    link = make_link(tp_order_id=position.get("take_profit_id"), sl_order_id=position.get("stop_loss_id"))
    return make_client(positions=[make_position(**fields)], links=[link])


def own_plans_client(**position: object) -> object:
    """A client holding a copy whose TP/SL it set by hand (the copier placed none)."""
    fields = {"total": D("0.0102"), **position}
    return make_client(positions=[make_position(**fields)], links=[make_link()])


def test_place_when_the_client_has_none() -> None:
    master = make_master(make_position(take_profit=D("70000"), stop_loss=D("55000")))
    plan = plan_for(master, linked_client(), positions=False)
    tp, sl = plan.operations
    assert (tp.kind, tp.plan_type, tp.trigger_price, tp.step) == ("place_tpsl", "pos_profit", D("70000"), "tp")
    assert (sl.kind, sl.plan_type, sl.trigger_price, sl.step) == ("place_tpsl", "pos_loss", D("55000"), "sl")
    assert tp.reason == "place BTCUSDT long take-profit at 70000 (as the master)"


def test_trigger_is_rounded_to_the_tick() -> None:
    master = make_master(make_position(take_profit=D("70000.26")))
    assert only(plan_for(master, linked_client()), "place_tpsl").trigger_price == D("70000.3")


def test_modify_when_both_set_and_different() -> None:
    master = make_master(make_position(stop_loss=D("56000")))
    client = linked_client(stop_loss=D("55000"), stop_loss_id="sl-1")
    op = only(plan_for(master, client), "modify_tpsl")
    assert (op.plan_type, op.trigger_price, op.plan_order_id) == ("pos_loss", D("56000"), "sl-1")
    assert op.reason == "move BTCUSDT long stop-loss from 55000 to 56000 (as the master)"


def test_equal_triggers_need_nothing() -> None:
    master = make_master(make_position(take_profit=D("70000"), stop_loss=D("55000")))
    client = linked_client(take_profit=D("70000"), take_profit_id="t", stop_loss=D("55000"), stop_loss_id="s")
    assert plan_for(master, client).is_empty


def test_cancel_when_the_master_has_none() -> None:
    client = linked_client(take_profit=D("70000"), take_profit_id="tp-9")
    op = only(plan_for(make_master(make_position()), client), "cancel_tpsl")
    assert (op.plan_type, op.plan_order_id, op.step) == ("pos_profit", "tp-9", "tp")


def test_missing_order_id_is_skipped_not_duplicated() -> None:
    master = make_master(make_position(take_profit=D("71000")))
    client = make_client(positions=[make_position(total=D("0.0102"), take_profit=D("70000"))],
                         links=[make_link(tp_order_id="tp-old")])
    plan = plan_for(master, client)
    assert plan.is_empty
    assert skip_reasons(plan) == [
        "the client's own BTCUSDT long take-profit at 70000 stays; the master's 71000 is not copied"]


def test_the_clients_own_stop_loss_is_never_moved_or_cancelled() -> None:
    client = own_plans_client(stop_loss=D("50000"), stop_loss_id="by-hand")
    # the master has no stop: the client's own one stays
    assert plan_for(make_master(make_position()), client).is_empty
    # the master has another stop: it is not copied over the client's
    plan = plan_for(make_master(make_position(stop_loss=D("56000"))), client)
    assert plan.is_empty
    assert skip_reasons(plan) == [
        "the client's own BTCUSDT long stop-loss at 50000 stays; the master's 56000 is not copied"]


def test_a_take_profit_is_still_copied_next_to_the_clients_own_stop() -> None:
    client = own_plans_client(stop_loss=D("50000"), stop_loss_id="by-hand")
    plan = plan_for(make_master(make_position(take_profit=D("70000"))), client)
    assert kinds(plan) == ["place_tpsl"] and only(plan, "place_tpsl").plan_type == "pos_profit"


@pytest.mark.parametrize(
    ("side", "field", "trigger", "crossed"),
    [
        ("long", "take_profit", "59000", True),
        ("long", "take_profit", "61000", False),
        ("long", "stop_loss", "60000", True),
        ("long", "stop_loss", "59000", False),
        ("short", "take_profit", "61000", True),
        ("short", "take_profit", "59000", False),
        ("short", "stop_loss", "59000", True),
        ("short", "stop_loss", "61000", False),
    ],
)
def test_crossed_trigger_is_skipped(side: str, field: str, trigger: str, crossed: bool) -> None:
    master = make_master(make_position(hold_side=side, **{field: D(trigger)}))
    client = make_client(positions=[make_position(hold_side=side, total=D("0.0102"))], links=[make_link(hold_side=side)])
    plan = plan_for(master, client, marks={"BTCUSDT": D("60000")})
    if crossed:
        assert plan.is_empty
        assert "is already crossed by mark 60000; not copied" in skip_reasons(plan)[0]
    else:
        assert kinds(plan) == ["place_tpsl"]


def test_is_trigger_crossed_table() -> None:
    assert is_trigger_crossed("long", "pos_profit", D("100"), D("100"))
    assert is_trigger_crossed("short", "pos_loss", D("100"), D("100"))
    assert not is_trigger_crossed("long", "pos_loss", D("99"), D("100"))


def test_tpsl_after_the_open_in_the_same_plan() -> None:
    master = make_master(make_position(take_profit=D("70000"), stop_loss=D("55000")))
    plan = plan_for(master, make_client())
    assert kinds(plan) == ["set_margin_mode", "set_leverage", "open", "place_tpsl", "place_tpsl"]


def test_no_tpsl_for_copies_not_opened_or_being_closed() -> None:
    master = make_master(make_position(take_profit=D("70000"), c_time=1))
    assert plan_for(master, make_client()).is_empty  # opened before following: skipped, so no TP either
    gone = make_client(positions=[make_position(take_profit=D("1"), take_profit_id="x")], links=[make_link()])
    assert kinds(plan_for(make_master(), gone)) == ["close"]


def test_tpsl_flag_off_and_copy_tpsl_only() -> None:
    master = make_master(make_position(total=D("0.03"), take_profit=D("70000")))
    client = linked_client()
    assert kinds(plan_for(master, client, tpsl=False)) == ["open"]
    assert kinds(plan_for(master, client, positions=False)) == ["place_tpsl"]
    unlinked = make_client(positions=[make_position()])
    assert plan_for(master, unlinked, positions=False).is_empty


def test_tpsl_continues_when_opens_are_blocked() -> None:
    master = make_master(make_position(total=D("0.03"), stop_loss=D("50000")))
    client = make_client(
        open_block_reason="daily loss limit reached",
        positions=[make_position(total=D("0.0102"))],
        links=[make_link()],
    )
    assert kinds(plan_for(master, client)) == ["place_tpsl"]
