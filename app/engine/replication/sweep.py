"""One account's emergency sweep: flash close, cancel the pending orders and plans, re-read until confirmed.

Bitget's flash close leaves pending orders and plan orders alone (REFERENCE 9.3). So after the close the sweep
reads positions, pending orders and both plan lists (normal_plan, profit_loss) together, cancels what it found
(orders one by one, plans by their own planType with orderIdList, 10.5), closes once more if a position is
still (or again) open, and reads again. "Flat" comes only from reads made after the last close and cancel.
TP/SL plans of a position that could not be closed are kept: they are the only protection it has left.
"""
from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar

from ...bitget.errors import AuthError, BitgetError, OrderNotFoundError, RetryableError
from ...bitget.models import BatchResult, Order, PlanOrder, Position

if TYPE_CHECKING:
    from ...bitget.client import BitgetClient

T = TypeVar("T")
Runner = Callable[[Sequence[Callable[[], Any]]], list[Any]]
TPSL_KINDS = frozenset({"pos_profit", "pos_loss", "profit_plan", "loss_plan", "moving_plan"})
MAX_PASSES = 2  # cancel/close rounds after the first read; each one is followed by a confirming read
MAX_CLOSES = 2  # flash close is 1/s/UID: a second try catches a fill or a rest, a third would not help


class SweepAborted(Exception):
    """A read failed in a way that makes every later call pointless (exchange unreachable, key rejected)."""


def in_turn(calls: Sequence[Callable[[], Any]]) -> list[Any]:
    """Run the calls one after the other (the default runner; tests see a fixed call order)."""
    return [call() for call in calls]


@dataclass
class Leftovers:
    """What one read found open in the sweep's scope; unknown names the lists that could not be read."""

    positions: list[Position] = field(default_factory=list)
    orders: list[Order] = field(default_factory=list)
    plans: list[PlanOrder] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        """Flat with no pending order or plan, every list read successfully."""
        return not (self.positions or self.orders or self.plans or self.unknown)

    def describe(self) -> str:
        """E.g. 'still open: BTCUSDT long 0.01; 1 pending order (BTCUSDT); 2 plan orders (BTCUSDT pos_loss, ...)'."""
        parts = []
        if self.positions:
            parts.append(", ".join(f"{p.symbol} {p.hold_side} {p.total}" for p in self.positions))
        if self.orders:
            parts.append(f"{_count(len(self.orders), 'pending order')} "
                         f"({', '.join(sorted({o.symbol for o in self.orders}))})")
        if self.plans:
            parts.append(f"{_count(len(self.plans), 'plan order')} "
                         f"({', '.join(sorted(f'{p.symbol} {p.plan_type}' for p in self.plans))})")
        text = f"still open: {'; '.join(parts)}" if parts else ""
        if self.unknown:
            text += ("; " if text else "") + "not confirmed: could not read " + ", ".join(sorted(self.unknown))
        return text


class AccountSweep:
    """Runs the sweep for one account; keeps what it did (orders for the report) and what went wrong."""

    def __init__(self, client: BitgetClient, symbol: str | None, together: Runner = in_turn) -> None:
        self.client = client
        self.symbol = symbol
        self.together = together  # runs independent calls of this account concurrently
        self.orders: list[dict[str, Any]] = []  # close / cancel acks for the run's results
        self.problems: list[str] = []
        self.close_attempts = 0
        self.closes = 0
        self.cancelled_orders = 0
        self.cancelled_plans = 0
        self.all_positions: tuple[Position, ...] | None = None  # the last positions read, every symbol
        self._lock = threading.Lock()  # cancels and reads of one account may run on several threads

    def run(self) -> Leftovers:
        """Close, read, cancel/close what is left, read again; raises SweepAborted when reads cannot work."""
        self._flash_close()  # first: out of the market as fast as possible
        left = self._read_all()
        for _ in range(MAX_PASSES):
            if not self._act(left):
                break
            left = self._read_all()
        return left

    def problem_text(self) -> str:
        """Every distinct problem met, in order."""
        return "; ".join(dict.fromkeys(self.problems))

    # ----- acting -------------------------------------------------------------------------------------
    def _act(self, left: Leftovers) -> bool:
        """Cancel the orders and plans found, then close again if a position is open; False when nothing to do."""
        keep = {p.key for p in left.positions}  # TP/SL of a position still open stays
        blind = "positions" in left.unknown  # positions unread: no TP/SL may go, it could be all that is left
        doomed: dict[tuple[str, str], list[str]] = {}
        for plan in left.plans:
            if not (plan.plan_type in TPSL_KINDS and (blind or plan.protects(keep))):
                doomed.setdefault((plan.symbol, plan.plan_type), []).append(plan.order_id)
        calls: list[Callable[[], Any]] = [partial(self._cancel_order, o) for o in left.orders]
        calls += [partial(self._cancel_plans, s, t, ids) for (s, t), ids in sorted(doomed.items())]
        close = bool(left.positions) and self.close_attempts < MAX_CLOSES
        if calls:
            self.together(calls)  # before the second close: nothing may fill, nothing stays locked
        if close:
            self._flash_close()
        return bool(calls) or close

    def _flash_close(self) -> None:
        self.close_attempts += 1
        try:
            answer: BatchResult = self.client.close_positions(symbol=self.symbol)
        except BitgetError as exc:  # keep going: the cancels and the re-reads still matter
            self._note(problems=[f"flash close: {exc}"])
            return
        self._note(orders=[{"kind": "close", "order_id": a.order_id, "client_oid": a.client_oid}
                           for a in answer.successes],
                   problems=[f"flash close: {f'{f.symbol} ' if f.symbol else ''}{f.message} ({f.code})"
                             for f in answer.failures], closes=len(answer.successes))

    def _cancel_order(self, order: Order) -> None:
        try:
            self.client.cancel_order(order.symbol, order_id=order.order_id)
        except OrderNotFoundError:
            return  # filled or cancelled meanwhile: the re-read tells
        except BitgetError as exc:
            self._note(problems=[f"cancel order {order.order_id} ({order.symbol}): {exc}"])
            return
        self._note(orders=[{"kind": "cancel", "order_id": order.order_id, "symbol": order.symbol}], cancelled_orders=1)

    def _cancel_plans(self, symbol: str, plan_type: str, ids: list[str]) -> None:
        try:
            answer = self.client.cancel_plans(symbol, plan_type, ids)
        except BitgetError as exc:
            self._note(problems=[f"cancel {plan_type} plans on {symbol}: {exc}"])
            return
        self._note(orders=[{"kind": "cancel-plan", "order_id": a.order_id, "symbol": symbol, "plan_type": plan_type}
                           for a in answer.successes],
                   problems=[f"cancel {plan_type} plan {f.order_id or ''} on {symbol}: {f.message}"
                             for f in answer.failures], cancelled_plans=len(answer.successes))

    def _note(self, *, orders: Sequence[dict[str, Any]] = (), problems: Sequence[str] = (), closes: int = 0,
              cancelled_orders: int = 0, cancelled_plans: int = 0) -> None:
        with self._lock:
            self.orders += orders
            self.problems += problems
            self.closes += closes
            self.cancelled_orders += cancelled_orders
            self.cancelled_plans += cancelled_plans

    # ----- reading ------------------------------------------------------------------------------------
    def _read_all(self) -> Leftovers:
        """Positions, pending orders and both plan lists in the sweep's scope, read together."""
        left = Leftovers()
        symbol = self.symbol
        reads: list[tuple[str, Callable[[], Sequence[Any]]]] = [
            ("positions", self.client.positions),
            ("pending orders", partial(self.client.pending_orders, symbol)),
            ("normal_plan plans", partial(self.client.pending_plans, symbol, "normal_plan")),
            ("profit_loss plans", partial(self.client.pending_plans, symbol, "profit_loss")),
        ]
        positions, orders, triggers, tpsl = self.together(
            [partial(self._read, what, fetch, left) for what, fetch in reads])
        if "positions" not in left.unknown:
            self.all_positions = tuple(positions)
        left.positions = [p for p in positions if symbol is None or p.symbol == symbol]
        left.orders, left.plans = orders, triggers + tpsl
        return left

    def _read(self, what: str, fetch: Callable[[], Sequence[T]], left: Leftovers) -> list[T]:
        """One list; unreachable or key rejected ends the sweep, any other error leaves that list unknown."""
        try:
            return list(fetch())
        except (AuthError, RetryableError) as exc:
            raise SweepAborted(f"could not read {what}: {exc}") from exc
        except BitgetError as exc:
            self._note(problems=[f"could not read {what}: {exc}"])
            with self._lock:
                left.unknown.append(what)
            return []


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")
