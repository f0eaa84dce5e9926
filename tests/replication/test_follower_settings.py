"""Follower settings per client (issue 16): leverage, margin mode, TP/SL, fixed quantity/notional, max margin."""
from __future__ import annotations

from decimal import Decimal

from app.engine.replication.outcomes import settings_summary
from app.engine.replication.sizing import effective_leverage, sizing_factor, sizing_problem, target_size
from app.engine.replication.state import ClientSettings
from app.engine.replication.tpsl import own_triggers

from .builders import (
    kinds,
    known_settings,
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


def ops_of(plan, kind: str) -> list:
    return [op for op in plan.operations if op.kind == kind]


# ----- 1. leverage ------------------------------------------------------------------------------------------
def test_fixed_leverage_replaces_the_masters_and_is_still_capped() -> None:
    assert effective_leverage(20, ClientSettings(leverage_mode="fixed", fixed_leverage=7), BTC) == 7
    assert effective_leverage(20, ClientSettings(leverage_mode="fixed", fixed_leverage=7, max_leverage=5), BTC) == 5
    capped = make_contract("BTCUSDT", max_lever=50)
    assert effective_leverage(20, ClientSettings(leverage_mode="fixed", fixed_leverage=100), capped) == 50
    # follow (the default) is today's rule: the master's, capped
    assert effective_leverage(20, ClientSettings(fixed_leverage=7), BTC) == 20


def test_a_new_copy_opens_at_the_fixed_leverage_with_the_reason() -> None:
    client = make_client(leverage_mode="fixed", fixed_leverage=3)
    plan = plan_for(make_master(make_position(leverage=10)), client)
    lever = only(plan, "set_leverage")
    assert lever.leverage == 3 and only(plan, "open").leverage == 3
    assert lever.reason == "set BTCUSDT long leverage to 3x (the client's fixed 3x)"
    capped = plan_for(make_master(make_position(leverage=10)), make_client(leverage_mode="fixed", fixed_leverage=30,
                                                                          max_leverage=20))
    assert only(capped, "set_leverage").reason == (
        "set BTCUSDT long leverage to 20x (the client's fixed 30x, capped by the client's max 20x)")


def test_fixed_leverage_is_set_only_when_the_symbol_account_differs() -> None:
    master = make_master(make_position(leverage=10))
    same = make_client(leverage_mode="fixed", fixed_leverage=3, symbol_settings={"BTCUSDT": known_settings("crossed", 3)})
    assert kinds(plan_for(master, same)) == ["open"]
    other = make_client(leverage_mode="fixed", fixed_leverage=3, symbol_settings={"BTCUSDT": known_settings("crossed", 10)})
    assert kinds(plan_for(master, other)) == ["set_leverage", "open"]


def test_fixed_margin_sizing_uses_the_fixed_leverage() -> None:
    client = make_client(sizing_mode="fixed_margin", sizing_value=D("100"), leverage_mode="fixed", fixed_leverage=5)
    assert only(plan_for(make_master(make_position(leverage=20)), client), "open").size == D("0.0083")


def test_an_increase_keeps_the_leverage_the_copy_was_opened_with() -> None:
    client = make_client(leverage_mode="fixed", fixed_leverage=3, links=[make_link(factor=D("0.5"))],
                         positions=[make_position(total=D("0.0085"), leverage=10)])
    plan = plan_for(make_master(make_position(total=D("0.03"), leverage=10)), client)
    assert kinds(plan) == ["open"] and only(plan, "open").leverage == 10


# ----- 2. margin mode ---------------------------------------------------------------------------------------
def test_margin_mode_setting_overrides_the_masters() -> None:
    plan = plan_for(make_master(make_position(margin_mode="crossed")), make_client(margin_mode="isolated"))
    assert kinds(plan) == ["set_margin_mode", "set_leverage", "open"]
    setting = only(plan, "set_margin_mode")
    assert setting.margin_mode == "isolated" and only(plan, "open").margin_mode == "isolated"
    assert setting.reason == "set BTCUSDT margin mode to isolated (the client's margin mode setting)"
    follow = plan_for(make_master(make_position(margin_mode="isolated")), make_client())
    assert only(follow, "set_margin_mode").reason == "set BTCUSDT margin mode to isolated (as the master)"


def test_margin_mode_is_set_only_when_the_symbol_account_differs() -> None:
    master = make_master(make_position(margin_mode="crossed"))
    already = make_client(margin_mode="isolated", symbol_settings={"BTCUSDT": known_settings("isolated", 10)})
    assert kinds(plan_for(master, already)) == ["open"]
    crossed = make_client(margin_mode="crossed", symbol_settings={"BTCUSDT": known_settings("crossed", 10)})
    assert kinds(plan_for(make_master(make_position(margin_mode="isolated")), crossed)) == ["open"]


def test_margin_mode_is_kept_while_the_client_holds_the_other_side() -> None:
    master = make_master(make_position(), make_position(hold_side="short", margin_mode="crossed"))
    client = make_client(margin_mode="isolated", links=[make_link()],
                         positions=[make_position(total=D("0.0102"), margin_mode="crossed")],
                         symbol_settings={"BTCUSDT": known_settings("crossed", 10)})
    plan = plan_for(master, client)
    assert "set_margin_mode" not in kinds(plan)
    opened = [op for op in ops_of(plan, "open") if op.hold_side == "short"][0]
    assert opened.margin_mode == "crossed"
    assert "margin mode crossed: kept: the client holds another position on the symbol" in opened.setting
    assert "margin mode crossed kept (the client's setting is isolated)" in opened.reason


# ----- 3. TP/SL ---------------------------------------------------------------------------------------------
def test_own_trigger_prices_per_side() -> None:
    assert own_triggers("long", D("100"), D("5"), D("2")) == (D("105"), D("98"))
    assert own_triggers("short", D("100"), D("5"), D("2")) == (D("95"), D("102"))
    assert own_triggers("long", D("100"), None, D("0")) == (None, None)


def test_own_tpsl_is_placed_right_after_the_open_from_the_expected_entry() -> None:
    master = make_master(make_position(take_profit=D("70000"), stop_loss=D("50000")))
    plan = plan_for(master, make_client(tpsl_mode="own", tp_pct=D("5"), sl_pct=D("2")))
    assert kinds(plan) == ["set_margin_mode", "set_leverage", "open", "place_tpsl", "place_tpsl"]
    tp, sl = ops_of(plan, "place_tpsl")
    assert (tp.plan_type, tp.trigger_price) == ("pos_profit", D("63000"))  # 60000 x 1.05, not the master's 70000
    assert (sl.plan_type, sl.trigger_price) == ("pos_loss", D("58800"))
    assert tp.reason == "place BTCUSDT long take-profit at 63000 (the client's own setting, from its entry 60000)"
    assert tp.setting == "TP/SL own: take-profit 5% and stop-loss 2% of the client's average entry 60000"
    create = plan.link_changes[0]
    assert (create.action, create.tpsl_mode, create.tp_pct, create.sl_pct) == ("create", "own", D("5"), D("2"))


def test_own_tpsl_for_a_short_and_only_the_kinds_that_are_set() -> None:
    master = make_master(make_position(hold_side="short"))
    plan = plan_for(master, make_client(tpsl_mode="own", tp_pct=None, sl_pct=D("2")))
    sl = only(plan, "place_tpsl")
    assert (sl.plan_type, sl.trigger_price) == ("pos_loss", D("61200"))


def own_copy(manual: bool = False, **position: object) -> object:
    """A client whose copy was opened with own TP/SL 5 % / 2 % and whose plans the copier placed (unless manual)."""
    fields = {"total": D("0.0102"), "open_price_avg": D("60000"), **position}
    ids = {} if manual else {"tp_order_id": position.get("take_profit_id"), "sl_order_id": position.get("stop_loss_id")}
    link = make_link(tpsl_mode="own", tp_pct=D("5"), sl_pct=D("2"), **ids)
    return make_client(positions=[make_position(**fields)], links=[link])


def test_own_tpsl_is_never_moved_when_the_master_moves_its_own() -> None:
    client = own_copy(take_profit=D("63000"), take_profit_id="tp-1", stop_loss=D("58800"), stop_loss_id="sl-1")
    master = make_master(make_position(total=D("0.017"), take_profit=D("75000"), stop_loss=D("52000")))
    assert plan_for(master, client).is_empty
    assert plan_for(make_master(make_position(total=D("0.017"))), client).is_empty  # nor cancelled


def test_own_tpsl_is_replaced_after_an_increase() -> None:
    client = own_copy(take_profit=D("63000"), take_profit_id="tp-1", stop_loss=D("58800"), stop_loss_id="sl-1")
    # the master doubles; the mark is 60240 (within the slippage guard)
    master = make_master(make_position(total=D("0.034"), mark_price=D("60240")))
    plan = plan_for(master, client)
    assert kinds(plan) == ["open", "modify_tpsl", "modify_tpsl"]
    tp, sl = ops_of(plan, "modify_tpsl")
    # average entry after adding 0.0102 at 60240 to 0.0102 at 60000 is 60120
    assert (tp.plan_order_id, tp.trigger_price) == ("tp-1", D("63126"))
    assert (sl.plan_order_id, sl.trigger_price) == ("sl-1", D("58917.6"))


def test_own_tpsl_follows_the_real_average_entry_on_the_next_run() -> None:
    # the open filled a little away from the mark: the plans move to the client's own average entry
    client = own_copy(open_price_avg=D("60100"), take_profit=D("63000"), take_profit_id="tp-1")
    plan = plan_for(make_master(make_position(total=D("0.017"))), client)
    assert [(op.kind, op.trigger_price) for op in plan.operations] == [
        ("modify_tpsl", D("63105")), ("place_tpsl", D("58898"))]


def test_own_tpsl_leaves_the_clients_manual_stop_alone() -> None:
    client = own_copy(manual=True, stop_loss=D("55000"), stop_loss_id="manual")  # set by hand: not the copier's
    plan = plan_for(make_master(make_position(total=D("0.017"))), client)
    assert [op.plan_type for op in plan.operations] == ["pos_profit"]
    assert any("the client's own BTCUSDT long stop-loss at 55000 stays" in r for r in skip_reasons(plan))


def test_tpsl_none_sends_no_tpsl_request_of_any_kind() -> None:
    master = make_master(make_position(take_profit=D("70000"), stop_loss=D("50000")))
    plan = plan_for(master, make_client(tpsl_mode="none"))
    assert kinds(plan) == ["set_margin_mode", "set_leverage", "open"]
    assert plan.link_changes[0].tpsl_mode == "none"
    held = make_client(positions=[make_position(total=D("0.0102"), take_profit=D("65000"), take_profit_id="t")],
                       links=[make_link(tpsl_mode="none", tp_order_id="t")])
    assert plan_for(master, held).is_empty and plan_for(make_master(make_position()), held).is_empty
    assert plan_for(master, held, positions=False).is_empty  # the Copy TP/SL action too


def test_an_open_copy_keeps_the_tpsl_choice_it_was_opened_with() -> None:
    master = make_master(make_position(take_profit=D("70000")))
    follow_copy = make_client(tpsl_mode="own", tp_pct=D("5"), positions=[make_position(total=D("0.0102"))],
                              links=[make_link()])  # opened under follow
    assert only(plan_for(master, follow_copy), "place_tpsl").trigger_price == D("70000")
    none_copy = make_client(tpsl_mode="follow", positions=[make_position(total=D("0.0102"))],
                            links=[make_link(tpsl_mode="none")])
    assert plan_for(master, none_copy).is_empty


# ----- 4. sizing --------------------------------------------------------------------------------------------
def test_fixed_quantity_opens_the_set_size_and_skips_symbols_without_one() -> None:
    master = make_master(make_position(total=D("0.03")), make_position(symbol="ETHUSDT", total=D("2")))
    client = make_client(sizing_mode="fixed_quantity", fixed_quantities=(("BTCUSDT", D("0.01")),))
    plan = plan_for(master, client)
    opened = only(plan, "open")
    assert (opened.symbol, opened.size) == ("BTCUSDT", D("0.01"))  # 0.01 / 0.03 x 0.03 does not floor to 0.0099
    assert "sizing fixed quantity: 0.01 BTCUSDT" in opened.setting
    assert skip_reasons(plan) == ["ETHUSDT has no fixed quantity in this client's settings: not copied"]


def test_fixed_quantity_factor_is_frozen_so_increases_and_closes_stay_proportional() -> None:
    master = make_master(make_position(total=D("0.03")))
    client = make_client(sizing_mode="fixed_quantity", fixed_quantities=(("BTCUSDT", D("0.01")),))
    factor = plan_for(master, client).link_changes[0].factor
    assert target_size(D("0.03"), factor, BTC) == D("0.01")
    assert target_size(D("0.06"), factor, BTC) == D("0.02")
    assert target_size(D("0.015"), factor, BTC) == D("0.005")
    linked = make_client(sizing_mode="fixed_quantity", fixed_quantities=(("BTCUSDT", D("0.01")),),
                         positions=[make_position(total=D("0.01"))], links=[make_link(factor=factor)])
    assert only(plan_for(make_master(make_position(total=D("0.06"))), linked), "open").size == D("0.01")


def test_fixed_notional_is_notional_over_mark_floored_to_the_step() -> None:
    client = make_client(sizing_mode="fixed_notional", sizing_value=D("500"))
    opened = only(plan_for(make_master(make_position(total=D("1"))), client), "open")
    assert opened.size == D("0.0083")  # 500 / 60000 = 0.008333..
    assert "sizing fixed notional: 500 USDT at mark 60000" in opened.setting


def test_fixed_sizing_problems_are_named() -> None:
    quantity = ClientSettings(sizing_mode="fixed_quantity", sizing_value=D("0"), fixed_quantities=(("BTCUSDT", D("1")),))
    assert sizing_problem(quantity, D(1), D(1), D(1), "BTCUSDT") is None  # sizing_value is not used
    assert "no fixed quantity" in (sizing_problem(quantity, D(1), D(1), D(1), "ETHUSDT") or "")
    notional = ClientSettings(sizing_mode="fixed_notional", sizing_value=D("100"))
    assert "no mark price" in (sizing_problem(notional, D(1), D(1), None, "BTCUSDT") or "")
    # the factor reproduces the floored size exactly: 100 / 60000 = 0.001666.. -> 0.0016
    factor = sizing_factor(notional, D(1), D(1), make_position(total=D("0.03")), D("60000"), 10, BTC)
    assert factor is not None and target_size(D("0.03"), factor, BTC) == D("0.0016")


def test_a_fixed_notional_below_the_minimum_is_skipped_with_the_minimum() -> None:
    client = make_client(sizing_mode="fixed_notional", sizing_value=D("3"))
    plan = plan_for(make_master(make_position(total=D("1"))), client)
    assert plan.is_empty and "below BTCUSDT minimum" in skip_reasons(plan)[0]


# ----- 5. max margin ----------------------------------------------------------------------------------------
def test_max_margin_cuts_a_new_copy_with_the_reason() -> None:
    client = make_client(max_margin=D("50"))  # 50 USDT x 10 / 60000 = 0.00833 BTC
    opened = only(plan_for(make_master(make_position(total=D("0.017"))), client), "open")
    assert opened.size == D("0.0083")
    assert "cut to 0.0083 by max margin 50 USDT per position at 10x at mark 60000 (target 0.0102)" in opened.reason
    assert opened.size * D("60000") / opened.leverage <= D("50")


def test_max_margin_uses_the_copys_own_leverage_for_an_increase_and_blocks_growth_at_the_cap() -> None:
    client = make_client(max_margin=D("50"), links=[make_link(factor=D("0.6"))],
                         positions=[make_position(total=D("0.0083"), leverage=10)])
    plan = plan_for(make_master(make_position(total=D("0.03"))), client)
    assert plan.is_empty and "BTCUSDT long not increased: cut to 0.0083 by max margin 50 USDT" in skip_reasons(plan)[0]
    higher = make_client(max_margin=D("50"), links=[make_link(factor=D("0.6"))],
                         positions=[make_position(total=D("0.0083"), leverage=20)])
    assert only(plan_for(make_master(make_position(total=D("0.03"))), higher), "open").size == D("0.0083")


def test_max_margin_and_max_notional_the_tighter_wins() -> None:
    client = make_client(max_margin=D("50"), max_notional=D("300"))
    opened = only(plan_for(make_master(make_position(total=D("0.017"))), client), "open")
    assert opened.size == D("0.005") and "max notional 300 USDT" in opened.reason


def test_max_margin_refuses_a_round_up_beyond_it() -> None:
    client = make_client(equity=D("1"), below_min_rule="round_up", round_up_max_factor=D("100"), max_margin=D("0.4"),
                         sizing_mode="multiplier", sizing_value=D("0.001"))
    plan = plan_for(make_master(make_position(total=D("0.017"), leverage=10)), client)
    assert plan.is_empty and "would exceed max margin 0.4 USDT at 10x" in skip_reasons(plan)[0]


# ----- 6. preview: which setting produced what --------------------------------------------------------------
def test_every_operation_names_the_setting_behind_it() -> None:
    client = make_client(sizing_mode="multiplier", sizing_value=D("0.5"), leverage_mode="fixed", fixed_leverage=4,
                         margin_mode="isolated", tpsl_mode="own", tp_pct=D("5"))
    plan = plan_for(make_master(make_position()), client)
    by_kind = {op.kind: op.setting for op in plan.operations}
    assert by_kind["set_margin_mode"] == "margin mode isolated: the client's margin mode setting"
    assert by_kind["set_leverage"] == "leverage 4x: the client's fixed 4x"
    assert by_kind["open"] == ("sizing multiplier: 0.5 x the master's size; leverage 4x: the client's fixed 4x; "
                               "margin mode isolated: the client's margin mode setting")
    assert by_kind["place_tpsl"].startswith("TP/SL own: take-profit 5%")


def test_settings_summary_in_words() -> None:
    summary = settings_summary(ClientSettings(sizing_mode="fixed_quantity", fixed_quantities=(("BTCUSDT", D("0.01")),),
                                              leverage_mode="fixed", fixed_leverage=5, max_leverage=3,
                                              tpsl_mode="own", sl_pct=D("2"), max_margin=D("100")))
    assert summary == {"sizing": "fixed quantity BTCUSDT 0.01", "leverage": "fixed 5x, at most 3x",
                       "margin_mode": "the master's", "tpsl": "own: SL 2% of the client's average entry",
                       "caps": "max margin 100 USDT"}
    assert settings_summary(ClientSettings(tpsl_mode="none"))["tpsl"] == "none: the copier places no TP/SL"
