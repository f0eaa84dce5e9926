"""Property tests: executing a plan on an in-memory client reaches the targets, and replanning is a no-op."""
from __future__ import annotations

from collections import Counter
from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.bitget.models import Position
from app.engine.replication.plan import ClientPlan
from app.engine.replication.planner import plan_client
from app.engine.replication.sizing import target_size
from app.engine.replication.state import ClientSettings, ClientState, Link, MasterState, SymbolSettings

from .builders import MARKS, make_contract, make_position
from .exchange_model import apply_plan

D = Decimal
SYMBOLS = ("BTCUSDT", "ETHUSDT", "DOGEUSDT")
SIDES = ("long", "short")
CONTRACTS = {
    "BTCUSDT": make_contract("BTCUSDT", max_lever=100),
    "ETHUSDT": make_contract("ETHUSDT", min_trade_num=D("0.05"), max_market_order_qty=D("30")),
    "DOGEUSDT": make_contract("DOGEUSDT", min_trade_num=D("10"), max_market_order_qty=D("5000")),
}
PROPERTY_SETTINGS = settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _steps(symbol: str, draw: st.DrawFn, low: int = 1, high: int = 30_000) -> Decimal:
    """A size on the symbol's grid."""
    # small sizes often, so minimums, round-up and full closes get exercised
    return draw(st.one_of(st.integers(low, 60), st.integers(low, high))) * CONTRACTS[symbol].size_step


def _trigger(draw: st.DrawFn, mark: Decimal) -> Decimal | None:
    ratio = draw(st.sampled_from([None, D("0.8"), D("0.95"), D("0.99713"), D("1.0311"), D("1.2")]))
    return None if ratio is None else mark * ratio


@st.composite
def master_states(draw: st.DrawFn, marks: dict[str, Decimal]) -> MasterState:
    """A master with up to one position per (symbol, side), sizes on the grid."""
    positions = []
    for symbol in SYMBOLS:
        margin_mode = draw(st.sampled_from(["crossed", "isolated"]))
        for side in SIDES:
            if not draw(st.booleans()):
                continue
            positions.append(make_position(
                symbol=symbol, hold_side=side, total=_steps(symbol, draw), margin_mode=margin_mode,
                leverage=draw(st.sampled_from([1, 5, 20, 125])), open_price_avg=MARKS[symbol],
                mark_price=marks[symbol], c_time=draw(st.sampled_from([500, 2_000])),
                take_profit=_trigger(draw, marks[symbol]), stop_loss=_trigger(draw, marks[symbol]),
            ))
    return MasterState(equity=draw(st.sampled_from([D("0"), D("2500"), D("10000")])), positions=tuple(positions))


@st.composite
def client_settings(draw: st.DrawFn) -> ClientSettings:
    """Random copy rules, risk limits included."""
    mode = draw(st.sampled_from(["equity_ratio", "multiplier", "fixed_margin", "fixed_notional", "fixed_quantity"]))
    value = {"equity_ratio": [D("0.5"), D("1"), D("3")], "multiplier": [D("0.01"), D("0.6"), D("2")],
             "fixed_margin": [D("1"), D("50"), D("1000")], "fixed_notional": [D("3"), D("700"), D("20000")],
             "fixed_quantity": [D("1")]}[mode]
    tpsl_mode = draw(st.sampled_from(["follow", "own", "none"]))
    return ClientSettings(
        sizing_mode=mode,
        sizing_value=draw(st.sampled_from(value)),
        max_leverage=draw(st.sampled_from([None, 3, 50])),
        max_notional=draw(st.sampled_from([None, D("20"), D("2000"), D("100000")])),
        max_open_positions=draw(st.sampled_from([None, 1, 3])),
        allowed_symbols=draw(st.sampled_from([frozenset(), frozenset({"BTCUSDT", "DOGEUSDT"})])),
        paused=draw(st.sampled_from([False] * 9 + [True])),
        slippage_pct=draw(st.sampled_from([None, D("0.5"), D("5")])),
        below_min_rule=draw(st.sampled_from(["skip", "round_up"])),
        round_up_max_factor=draw(st.sampled_from([D("1"), D("2"), D("50")])),
        copy_existing=draw(st.booleans()),
        leverage_mode=draw(st.sampled_from(["follow", "fixed"])),
        fixed_leverage=draw(st.sampled_from([1, 7, 125])),
        margin_mode=draw(st.sampled_from(["follow", "crossed", "isolated"])),
        tpsl_mode=tpsl_mode,
        tp_pct=draw(st.sampled_from([None, D("0"), D("1.5"), D("50")])) if tpsl_mode == "own" else None,
        sl_pct=draw(st.sampled_from([None, D("2"), D("30")])) if tpsl_mode == "own" else None,
        fixed_quantities=draw(st.sampled_from([(), (("BTCUSDT", D("0.003")),),
                                               (("BTCUSDT", D("0.0001")), ("ETHUSDT", D("2")))])),
        max_margin=draw(st.sampled_from([None, D("5"), D("400")])),
    )


def _client_position(draw: st.DrawFn, symbol: str, side: str, margin_mode: str, mark: Decimal, mode: str) -> Position:
    tp, sl = _trigger(draw, mark), _trigger(draw, mark)
    with_ids = draw(st.sampled_from([True, True, True, False]))
    return make_position(
        symbol=symbol, hold_side=side, total=_steps(symbol, draw, high=20_000), margin_mode=margin_mode,
        mark_price=mark, pos_mode=mode, take_profit=tp, stop_loss=sl,
        take_profit_id=f"tp-{symbol}-{side}" if tp and with_ids else None,
        stop_loss_id=f"sl-{symbol}-{side}" if sl and with_ids else None,
    )


@st.composite
def client_states(draw: st.DrawFn, marks: dict[str, Decimal], fresh: bool = False) -> ClientState:
    """A client with a mix of linked copies, stale links and its own positions (one side per symbol if one-way)."""
    mode = draw(st.sampled_from(["hedge_mode", "one_way_mode"]))
    positions: list[Position] = []
    links: list[Link] = []
    known: dict[str, SymbolSettings] = {}
    for symbol in () if fresh else SYMBOLS:
        margin_mode = draw(st.sampled_from(["crossed", "isolated"]))
        held_sides = [s for s in SIDES if draw(st.booleans())]
        if mode == "one_way_mode":
            held_sides = held_sides[:1]
        for side in SIDES:
            held = side in held_sides
            linked = draw(st.booleans())
            position = None
            if held:
                position = _client_position(draw, symbol, side, margin_mode, marks[symbol], mode)
                positions.append(position)
            if linked:
                factor = draw(st.sampled_from([D("0.1"), D("0.5"), D("0.6"), D("1"), D("0.0004")]))
                # the copier placed the copy's TP/SL itself, or the client set its own by hand
                own = position is not None and draw(st.booleans())
                tpsl_mode = draw(st.sampled_from(["follow", "follow", "own", "none"]))
                links.append(Link(
                    symbol, side, factor, created_ms=1_500, opened=draw(st.sampled_from([True, True, False])),
                    tpsl_mode=tpsl_mode, tp_pct=D("3") if tpsl_mode == "own" else None,
                    sl_pct=D("1") if tpsl_mode == "own" else None,
                    tp_order_id=position.take_profit_id if own else None,
                    sl_order_id=position.stop_loss_id if own else None,
                ))
        if draw(st.booleans()):
            known[symbol] = SymbolSettings(margin_mode, draw(st.sampled_from([1, 5, 20])), 5)
    return ClientState(
        account_id=1, name="prop", equity=draw(st.sampled_from([D("0"), D("300"), D("10000"), D("250000")])),
        pos_mode=mode, positions=tuple(positions), settings=draw(client_settings()), links=tuple(links),
        symbol_settings=known, following_since_ms=1_000,
        open_block_reason=draw(st.sampled_from([None] * 5 + ["daily loss limit reached"])),
    )


@st.composite
def scenarios(draw: st.DrawFn, fresh: bool = False) -> tuple[MasterState, ClientState, dict[str, Decimal]]:
    """Marks near the master's entries, then a master and a client (without positions or links if fresh)."""
    moves = [D("0.97"), D("1"), D("1"), D("1.002"), D("1.03")]
    marks = {s: MARKS[s] * draw(st.sampled_from(moves)) for s in SYMBOLS}
    return draw(master_states(marks)), draw(client_states(marks, fresh)), marks


def _plan(master: MasterState, client: ClientState, marks: dict[str, Decimal], **kw: Any) -> ClientPlan:
    # every position carries the mark, so planning without explicit marks must give the same plan
    with_marks = plan_client(master, client, CONTRACTS, marks=marks, **kw)
    assert plan_client(master, client, CONTRACTS, **kw) == with_marks
    return with_marks


def _key(position: Position) -> tuple[str, str]:
    return position.key


def _skipped_keys(plan: ClientPlan) -> set[tuple[str, str]]:
    return {(s.symbol, s.hold_side) for s in plan.skips}


def _check_targets(master: MasterState, before: ClientState, after: ClientState, again: ClientPlan) -> None:
    """Linked copies are at their target (or a skip says why not), never above it; own positions untouched."""
    masters = {p.key: p for p in master.positions}
    held = {p.key: p for p in after.positions}
    for link in after.links:
        assert link.key in masters, f"link {link.key} outlived its master position"
        contract = CONTRACTS[link.symbol]
        target = target_size(masters[link.key].total, link.factor, contract)
        total = held[link.key].total if link.key in held else D(0)
        assert total <= target, f"{link.key} holds {total} above its target {target}"
        if link.key not in _skipped_keys(again):
            assert target - total < contract.size_step, f"{link.key} at {total}, target {target}, no reason given"
    before_links = {link.key for link in before.links}
    for position in before.positions:
        if position.key not in before_links:
            assert held.get(position.key) == position, f"own position {position.key} was touched"


def _check_order(plan: ClientPlan) -> None:
    """Every close and reduction (all symbols) before any open or increase; steps unique per position."""
    steps = Counter((op.symbol, op.hold_side, op.step) for op in plan.operations)
    assert max(steps.values(), default=1) == 1
    kinds = [op.kind for op in plan.operations]
    if "close" in kinds and "open" in kinds:
        assert max(i for i, k in enumerate(kinds) if k == "close") < kinds.index("open")


def _check_follower_settings(before: ClientState, plan: ClientPlan, after: ClientState) -> None:
    """No TP/SL request for a copy under "none"; a new copy within max margin at the leverage it opens with."""
    modes = {link.key: link.tpsl_mode for link in after.links}
    for op in plan.operations:
        if op.kind in ("place_tpsl", "modify_tpsl", "cancel_tpsl"):
            assert modes.get(op.key) != "none", f"a TP/SL request for {op.key}, a copy under tpsl_mode none"
    max_margin = before.settings.max_margin
    held_before = {p.key for p in before.positions}
    for position in after.positions:
        if max_margin is not None and position.key not in held_before:
            opened = sum((op.size for op in plan.operations if op.kind == "open" and op.key == position.key), D(0))
            leverage = next(op.leverage for op in plan.operations if op.kind == "open" and op.key == position.key)
            assert opened * position.mark_price / leverage <= max_margin, f"{position.key} above max margin"


@PROPERTY_SETTINGS
@given(scenarios())
def test_apply_then_replan_reaches_targets_and_is_idempotent(
    scenario: tuple[MasterState, ClientState, dict[str, Decimal]],
) -> None:
    _check_apply_and_replan(*scenario)


@PROPERTY_SETTINGS
@given(scenarios(fresh=True))
def test_a_new_follower_reaches_targets_and_is_idempotent(
    scenario: tuple[MasterState, ClientState, dict[str, Decimal]],
) -> None:
    _check_apply_and_replan(*scenario)


def _check_apply_and_replan(master: MasterState, client: ClientState, marks: dict[str, Decimal]) -> None:
    """Plan, execute on the model, check targets and limits, and replan to nothing."""
    plan = _plan(master, client, marks)
    assert plan == _plan(master, client, marks)  # deterministic
    _check_order(plan)
    after = apply_plan(client, plan, marks, CONTRACTS)
    again = _plan(master, after, marks)
    assert again.operations == () and again.link_changes == (), again
    if client.settings.paused:
        assert plan.is_empty and sorted(after.positions, key=_key) == sorted(client.positions, key=_key)
        return
    _check_targets(master, client, after, again)
    _check_follower_settings(client, plan, after)
    limit = client.settings.max_open_positions
    if limit is not None:
        assert len(after.positions) <= max(limit, len(client.positions))


@PROPERTY_SETTINGS
@given(scenarios())
def test_copy_tpsl_only_touches_tpsl_and_is_idempotent(
    scenario: tuple[MasterState, ClientState, dict[str, Decimal]],
) -> None:
    master, client, marks = scenario
    plan = _plan(master, client, marks, positions=False)
    assert {op.kind for op in plan.operations} <= {"place_tpsl", "modify_tpsl", "cancel_tpsl"}
    assert {c.action for c in plan.link_changes} <= {"end", "confirm"}  # facts about links, no size changes
    after = apply_plan(client, plan, marks, CONTRACTS)
    assert [p.total for p in after.positions] == [p.total for p in sorted(client.positions, key=lambda p: p.key)]
    assert _plan(master, after, marks, positions=False).is_empty
