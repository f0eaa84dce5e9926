"""The emergency sweep of one account against a scripted client: the paths the simulator cannot show (trigger
plans, a close that leaves a rest, a fill between close and cancel, lists that cannot be read)."""
from __future__ import annotations

from typing import Any

import pytest

from app.bitget.errors import ExchangeUnavailableError, NetworkError, OrderNotFoundError, ParameterError
from app.bitget.models import BatchFailure, BatchResult, Order, OrderAck, PlanOrder, Position
from app.engine.replication.sweep import AccountSweep, SweepAborted

BTC, ETH = "BTCUSDT", "ETHUSDT"


def position(symbol: str, side: str = "long", size: str = "0.01") -> Position:
    return Position.from_wire({"symbol": symbol, "holdSide": side, "total": size, "available": size})


def order(order_id: str, symbol: str = BTC) -> Order:
    return Order.from_wire({"orderId": order_id, "symbol": symbol, "size": "0.01", "price": "70000",
                            "status": "live", "side": "buy", "posSide": "long", "orderType": "limit"})


def plan(order_id: str, plan_type: str, symbol: str = BTC, side: str = "long") -> PlanOrder:
    return PlanOrder.from_wire({"orderId": order_id, "planType": plan_type, "symbol": symbol, "posSide": side,
                                "triggerPrice": "75000", "planStatus": "live"})


class ScriptedClient:
    """Just the calls the sweep makes; every list answer comes from a queue (the last answer repeats)."""

    def __init__(self, *, positions: list[list[Position]], orders: list[list[Order]] | None = None,
                 plans: dict[str, list[list[PlanOrder]]] | None = None) -> None:
        self.answers: dict[str, list[Any]] = {"positions": positions, "orders": orders or [[]],
                                              **{f"plans:{k}": v for k, v in (plans or {}).items()}}
        self.calls: list[tuple] = []
        self.fail: dict[str, Exception] = {}
        self.close_answer = BatchResult(successes=(OrderAck("c1", None),), failures=())

    def _next(self, key: str) -> Any:
        if key in self.fail:
            raise self.fail[key]
        queue = self.answers.get(key, [[]])
        return queue.pop(0) if len(queue) > 1 else queue[0]

    def close_positions(self, symbol: str | None = None) -> BatchResult:
        self.calls.append(("close", symbol))
        if "close" in self.fail:
            raise self.fail["close"]
        return self.close_answer

    def positions(self) -> list[Position]:
        self.calls.append(("positions",))
        return self._next("positions")

    def pending_orders(self, symbol: str | None = None) -> list[Order]:
        self.calls.append(("orders", symbol))
        return self._next("orders")

    def cancel_order(self, symbol: str, *, order_id: str) -> OrderAck:
        self.calls.append(("cancel", symbol, order_id))
        if f"cancel:{order_id}" in self.fail:
            raise self.fail[f"cancel:{order_id}"]
        return OrderAck(order_id, None)

    def pending_plans(self, symbol: str | None = None, plan_type: str = "profit_loss") -> list[PlanOrder]:
        self.calls.append(("plans", plan_type, symbol))
        return self._next(f"plans:{plan_type}")

    def cancel_plans(self, symbol: str, plan_type: str, order_ids: list[str]) -> BatchResult:
        self.calls.append(("cancel_plans", symbol, plan_type, tuple(order_ids)))
        return BatchResult(successes=tuple(OrderAck(i, None) for i in order_ids), failures=())


def test_flat_account_costs_one_close_and_four_reads_and_is_clean():
    client = ScriptedClient(positions=[[]])
    left = AccountSweep(client, None).run()
    assert left.clean and left.describe() == ""
    assert client.calls == [("close", None), ("positions",), ("orders", None), ("plans", "normal_plan", None),
                            ("plans", "profit_loss", None)]


def test_trigger_and_tpsl_plans_are_cancelled_by_their_own_plan_type_per_symbol():
    client = ScriptedClient(positions=[[]], plans={
        "normal_plan": [[plan("n1", "normal_plan"), plan("t1", "track_plan"), plan("n2", "normal_plan", ETH)], []],
        "profit_loss": [[plan("p1", "pos_profit"), plan("p2", "pos_loss"), plan("p3", "profit_plan"),
                         plan("p4", "pos_loss")], []],
    })
    sweep = AccountSweep(client, None)
    assert sweep.run().clean
    cancels = [c for c in client.calls if c[0] == "cancel_plans"]
    assert cancels == [("cancel_plans", BTC, "normal_plan", ("n1",)), ("cancel_plans", BTC, "pos_loss", ("p2", "p4")),
                       ("cancel_plans", BTC, "pos_profit", ("p1",)), ("cancel_plans", BTC, "profit_plan", ("p3",)),
                       ("cancel_plans", BTC, "track_plan", ("t1",)), ("cancel_plans", ETH, "normal_plan", ("n2",))]
    assert sweep.cancelled_plans == 7 and sweep.close_attempts == 1  # nothing open: no second close
    assert {"kind": "cancel-plan", "order_id": "p1", "symbol": BTC, "plan_type": "pos_profit"} in sweep.orders
    assert client.calls[-4:] == [("positions",), ("orders", None), ("plans", "normal_plan", None),
                                 ("plans", "profit_loss", None)]  # confirmed by a read after the cancels


def test_a_fill_after_the_close_gets_a_second_close_and_orders_are_cancelled_first():
    client = ScriptedClient(positions=[[position(BTC)], []], orders=[[order("o1"), order("o2")], []])
    client.fail["cancel:o2"] = OrderNotFoundError("order does not exist", code="40768")  # filled meanwhile: no problem
    sweep = AccountSweep(client, None)
    left = sweep.run()
    assert left.clean, left.describe()
    closes = [i for i, c in enumerate(client.calls) if c[0] == "close"]
    assert len(closes) == 2 and client.calls.index(("cancel", BTC, "o1")) < closes[1]  # cancel, then close again
    assert client.calls[-4:] == [("positions",), ("orders", None), ("plans", "normal_plan", None),
                                 ("plans", "profit_loss", None)]
    assert sweep.cancelled_orders == 1 and sweep.problems == []


def test_tpsl_of_a_position_that_stays_open_is_kept_and_everything_left_is_named():
    client = ScriptedClient(positions=[[position(BTC, "long", "0.01"), position(ETH, "short", "1")]],
                            orders=[[order("o1")]],
                            plans={"profit_loss": [[plan("p1", "pos_loss"), plan("p2", "profit_plan", BTC, "short")],
                                                   [plan("p1", "pos_loss")]]})
    client.close_answer = BatchResult(successes=(), failures=(
        BatchFailure(None, None, BTC, "22044", "ADL processing, cannot flash close Position"),))
    client.fail["cancel:o1"] = ExchangeUnavailableError("Bitget is unavailable (HTTP 503)")
    sweep = AccountSweep(client, BTC)
    left = sweep.run()
    assert [p.symbol for p in left.positions] == [BTC]  # the ETH position is outside close-symbol's scope
    assert left.describe() == ("still open: BTCUSDT long 0.01; 1 pending order (BTCUSDT); "
                               "1 plan order (BTCUSDT pos_loss)")
    # the SL of the long that could not be closed stays; the plan of the (gone) short is cancelled
    assert [c for c in client.calls if c[0] == "cancel_plans"] == [("cancel_plans", BTC, "profit_plan", ("p2",))]
    assert sweep.problem_text() == ("flash close: BTCUSDT ADL processing, cannot flash close Position (22044); "
                                    "cancel order o1 (BTCUSDT): Bitget is unavailable (HTTP 503)")
    assert [c for c in client.calls if c[0] == "close"] == [("close", BTC), ("close", BTC)]  # no third try
    assert [c for c in client.calls if c[0] == "cancel"] == [("cancel", BTC, "o1")] * 2  # the cancel is retried
    assert {c[-1] for c in client.calls if c[0] in ("orders", "plans")} == {BTC}


def test_a_list_that_cannot_be_read_leaves_the_account_unconfirmed():
    client = ScriptedClient(positions=[[]])
    client.fail["plans:normal_plan"] = ParameterError("planType is not supported")
    left = AccountSweep(client, None).run()
    assert not left.clean
    assert left.describe() == "not confirmed: could not read normal_plan plans"


def test_unread_positions_keep_every_tpsl_but_trigger_plans_still_go():
    client = ScriptedClient(positions=[[]], plans={"normal_plan": [[plan("n1", "normal_plan")], []],
                                                   "profit_loss": [[plan("p1", "pos_loss")]]})
    client.fail["positions"] = ParameterError("temporarily unavailable")
    left = AccountSweep(client, None).run()
    assert [c for c in client.calls if c[0] == "cancel_plans"] == [("cancel_plans", BTC, "normal_plan", ("n1",))]
    assert left.describe() == "still open: 1 plan order (BTCUSDT pos_loss); not confirmed: could not read positions"


@pytest.mark.parametrize("broken", ["orders", "positions"])
def test_an_unreachable_exchange_ends_the_sweep(broken):
    client = ScriptedClient(positions=[[position(BTC)]])
    client.fail["close"] = NetworkError("Connection to Bitget failed")
    client.fail[broken] = NetworkError("Connection to Bitget failed")
    sweep = AccountSweep(client, None)
    with pytest.raises(SweepAborted, match="Connection to Bitget failed"):
        sweep.run()
    assert sweep.problems == ["flash close: Connection to Bitget failed"]
    assert not [c for c in client.calls if c[0] in ("cancel", "cancel_plans")]


def test_the_pooled_runner_keeps_order_and_lets_every_call_finish_before_raising():
    from concurrent.futures import ThreadPoolExecutor

    from app.engine.replication.closing import pooled

    done: list[str] = []

    def boom() -> None:
        raise NetworkError("Connection to Bitget failed")

    with ThreadPoolExecutor(max_workers=2) as pool:
        together = pooled(pool)
        assert together([lambda: 1, lambda: 2, lambda: 3]) == [1, 2, 3]
        assert together([]) == []
        with pytest.raises(NetworkError):
            together([boom, lambda: done.append("late")])
    assert done == ["late"]
