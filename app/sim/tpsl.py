"""Position TP/SL plans (pos_profit/pos_loss, partial profit_plan/loss_plan) as an Exchange mixin."""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from .contracts import contract_for
from .errors import (
    LONG_SL_HIGH,
    LONG_TP_LOW,
    PLAN_MISSING,
    SHORT_SL_LOW,
    SHORT_TP_HIGH,
    SL_EXISTS,
    TP_EXISTS,
    TPSL_NO_POSITION,
    fail,
    param_error,
)
from .numbers import ZERO, fmt, now_ms
from .state import HEDGE, TPSL_KINDS, Account, Order, Plan
from .trading import OrderRequest, claim_client_oid
from .views import PLAN_SOURCES, plan_row

if TYPE_CHECKING:
    from .exchange import Exchange

TRIGGER_TYPES = ("fill_price", "mark_price")
PLAN_MISSING_MSG = PLAN_MISSING[1]


@dataclass
class PlanRequest:
    """A place-tpsl-order request after wire parsing."""

    symbol: str
    plan_type: str
    trigger_price: Decimal
    hold_side: str
    trigger_type: str = "fill_price"
    execute_price: Decimal = ZERO
    size: Decimal | None = None
    client_oid: str = ""
    entry_point: str = "API"


def is_profit(plan_type: str) -> bool:
    """True for take-profit kinds."""
    return plan_type in ("pos_profit", "profit_plan")


def check_trigger(profit: bool, side: str, trigger: Decimal, mark: Decimal) -> None:
    """A TP must lie beyond the mark in the position's favour, an SL against it."""
    if side == "long" and profit and trigger <= mark:
        raise fail(LONG_TP_LOW, mark=fmt(mark))
    if side == "long" and not profit and trigger >= mark:
        raise fail(LONG_SL_HIGH, mark=fmt(mark))
    if side == "short" and profit and trigger >= mark:
        raise fail(SHORT_TP_HIGH, mark=fmt(mark))
    if side == "short" and not profit and trigger <= mark:
        raise fail(SHORT_SL_LOW, mark=fmt(mark))


def plan_hit(plan: Plan, mark: Decimal) -> bool:
    """Whether the mark has reached a plan's trigger."""
    rising = (plan.hold_side == "long") == is_profit(plan.plan_type)
    return mark >= plan.trigger_price if rising else mark <= plan.trigger_price


class PlanMixin:
    """place-tpsl-order, modify-tpsl-order, cancel-plan-order, orders-plan-pending and triggering."""

    def place_tpsl(self: Exchange, acc: Account, req: PlanRequest) -> Plan:
        """Attach a TP or SL plan to a position side."""
        with self.lock:
            spec = contract_for(req.symbol)
            if req.plan_type not in TPSL_KINDS:
                raise param_error(f"planType {req.plan_type} is not supported here")
            if req.trigger_type not in TRIGGER_TYPES:
                raise param_error("triggerType must be fill_price or mark_price")
            side = self._plan_side(acc, req.hold_side)
            self.check_symbol_status(spec.symbol, "tpsl", req.entry_point)
            spec.check_price(req.trigger_price, "triggerPrice")
            if req.execute_price > 0:
                spec.check_price(req.execute_price, "executePrice")
            pos = acc.positions.get((spec.symbol, side))
            if pos is None:
                raise fail(TPSL_NO_POSITION)
            size = self._plan_size(req.plan_type, req.size, pos.size, spec)
            check_trigger(is_profit(req.plan_type), side, req.trigger_price, self.prices.prices[spec.symbol])
            replaced = [plan for plan in acc.plans.values() if req.plan_type.startswith("pos_")
                        and (plan.symbol, plan.hold_side, plan.plan_type) == (spec.symbol, side, req.plan_type)]
            if replaced and self.variants.second_pos_tpsl == "refuse":
                raise fail(TP_EXISTS if req.plan_type == "pos_profit" else SL_EXISTS)
            if req.client_oid:
                claim_client_oid(req.client_oid, acc.plan_oids)
            for old in replaced:  # variant second_pos_tpsl=replace: one of each per position side, the newest
                del acc.plans[old.plan_id]
            now = now_ms()
            plan = Plan(plan_id=self._new_id(), client_oid=req.client_oid or self._new_id(), symbol=spec.symbol,
                        plan_type=req.plan_type, hold_side=side, trigger_price=req.trigger_price,
                        trigger_type=req.trigger_type, execute_price=req.execute_price, size=size,
                        c_time=now, u_time=now, entry_point=req.entry_point)
            acc.plans[plan.plan_id] = plan
            acc.plan_oids.add(plan.client_oid)
            self._changed()
            return plan

    def place_tpsl_legs(self: Exchange, acc: Account, legs: list[PlanRequest]) -> list[Plan]:
        """place-pos-tpsl: every leg or none (a refused leg takes the ones placed before it back)."""
        with self.lock:
            placed: list[Plan] = []
            try:
                for leg in legs:
                    placed.append(self.place_tpsl(acc, leg))
            except Exception:
                for plan in placed:
                    acc.plans.pop(plan.plan_id, None)
                raise
            return placed

    @staticmethod
    def _plan_side(acc: Account, wire_side: str) -> str:
        """holdSide is long/short in hedge mode and buy/sell (position direction) in one-way mode."""
        if acc.pos_mode == HEDGE:
            if wire_side not in ("long", "short"):
                raise param_error("holdSide must be long or short in hedge_mode")
            return wire_side
        if wire_side not in ("buy", "sell"):
            raise param_error("holdSide must be buy or sell in one_way_mode")
        return "long" if wire_side == "buy" else "short"

    @staticmethod
    def _plan_size(plan_type: str, size: Decimal | None, held: Decimal, spec: Any) -> Decimal:
        if plan_type.startswith("pos_"):
            return ZERO
        if size is None:
            raise param_error("size is required for profit_plan/loss_plan")
        spec.check_size(size, market=True)
        if size > held:
            raise fail(TPSL_NO_POSITION)
        return size

    def modify_tpsl(self: Exchange, acc: Account, symbol: str, *, order_id: str = "", client_oid: str = "",
                    trigger_price: Decimal, trigger_type: str = "", execute_price: Decimal | None = None,
                    size: Decimal | None = None) -> Plan:
        """Move a plan's trigger (and execute price / partial size)."""
        with self.lock:
            spec = contract_for(symbol)
            plan = self._find_plan(acc, order_id, client_oid)
            if plan is None or plan.symbol != spec.symbol:
                raise fail(PLAN_MISSING)
            if trigger_type and trigger_type not in TRIGGER_TYPES:
                raise param_error("triggerType must be fill_price or mark_price")
            spec.check_price(trigger_price, "triggerPrice")
            if execute_price:
                spec.check_price(execute_price, "executePrice")
            pos = acc.positions.get((plan.symbol, plan.hold_side))
            held = pos.size if pos else ZERO
            new_size = plan.size if plan.plan_type.startswith("pos_") and size is None else \
                self._plan_size(plan.plan_type, size, held, spec)
            check_trigger(is_profit(plan.plan_type), plan.hold_side, trigger_price, self.prices.prices[spec.symbol])
            plan.trigger_price, plan.size, plan.u_time = trigger_price, new_size, now_ms()
            plan.trigger_type = trigger_type or plan.trigger_type
            plan.execute_price = execute_price if execute_price is not None else plan.execute_price
            self._changed()
            return plan

    @staticmethod
    def _find_plan(acc: Account, order_id: str = "", client_oid: str = "") -> Plan | None:
        if order_id:
            return acc.plans.get(order_id)
        return next((p for p in acc.plans.values() if client_oid and p.client_oid == client_oid), None)

    def cancel_plans(self: Exchange, acc: Account, plan_type: str, *, symbol: str = "",
                     ids: list[dict[str, str]] | None = None) -> dict[str, Any]:
        """Cancel listed plans of one planType, or every plan of that type (for a symbol)."""
        kinds = set(TPSL_KINDS) if plan_type == "profit_loss" else {plan_type}
        with self.lock:
            wanted = contract_for(symbol).symbol if symbol else ""
            ok, failed = [], []
            if ids is None:
                chosen = [p for p in acc.plans.values() if p.plan_type in kinds and (not wanted or p.symbol == wanted)]
            else:
                chosen = []
                for item in ids:
                    plan = self._find_plan(acc, str(item.get("orderId") or ""), str(item.get("clientOid") or ""))
                    if plan is None or plan.plan_type not in kinds or (wanted and plan.symbol != wanted):
                        failed.append({"orderId": str(item.get("orderId") or ""),
                                       "clientOid": str(item.get("clientOid") or ""), "errorMsg": PLAN_MISSING_MSG})
                    else:
                        chosen.append(plan)
            for plan in chosen:
                acc.plans.pop(plan.plan_id, None)
                ok.append({"orderId": plan.plan_id, "clientOid": plan.client_oid})
            self._changed()
            return {"successList": ok, "failureList": failed}

    def pending_plans(self: Exchange, acc: Account, plan_type: str, *, symbol: str = "", order_id: str = "",
                      client_oid: str = "") -> dict[str, Any]:
        """orders-plan-pending: TP/SL plans for planType=profit_loss (null list when none)."""
        if plan_type not in ("profit_loss", "normal_plan", "track_plan"):
            raise param_error("planType must be profit_loss, normal_plan or track_plan")
        with self.lock:
            wanted = contract_for(symbol).symbol if symbol else ""
            rows = []
            if plan_type == "profit_loss":
                for plan in sorted(acc.plans.values(), key=lambda p: int(p.plan_id), reverse=True):
                    if ((wanted and plan.symbol != wanted) or (order_id and plan.plan_id != order_id)
                            or (client_oid and plan.client_oid != client_oid)):
                        continue
                    pos = acc.positions.get((plan.symbol, plan.hold_side))
                    mode = pos.margin_mode if pos else acc.symbol_settings(plan.symbol).margin_mode
                    rows.append(plan_row(acc, plan, mode, one_way_side=self.variants.one_way_plan_side))
            if not rows:
                return {"entrustedList": None, "endId": None}
            return {"entrustedList": rows, "endId": rows[-1]["orderId"]}

    def _trigger_plans(self: Exchange, acc: Account, symbol: str, mark: Decimal) -> None:
        """Execute this account's plans on `symbol` that the mark has reached."""
        for plan in list(acc.plans.values()):
            if plan.symbol != symbol or plan.plan_id not in acc.plans or not plan_hit(plan, mark):
                continue
            del acc.plans[plan.plan_id]
            pos = acc.positions.get((symbol, plan.hold_side))
            if pos is None:
                continue
            limit = plan.execute_price if plan.execute_price > 0 else None
            source = f"{PLAN_SOURCES[plan.plan_type]}_{'limit' if limit else 'market'}"
            size = None if plan.plan_type.startswith("pos_") else plan.size
            self.force_close(acc, pos, source, plan.entry_point, size=size, limit_price=limit)

    def _check_presets(self: Exchange, acc: Account, symbol: str, side: str, req: OrderRequest,
                       mark: Decimal) -> None:
        """Validate presetStopSurplusPrice / presetStopLossPrice of an opening order."""
        spec = contract_for(symbol)
        ref = req.price if req.order_type == "limit" and req.price else mark
        for profit, value in ((True, req.preset_tp), (False, req.preset_sl)):
            if value:
                spec.check_price(value, "presetStopSurplusPrice" if profit else "presetStopLossPrice")
                check_trigger(profit, side, value, ref)

    def _attach_presets(self: Exchange, acc: Account, order: Order) -> None:
        """Turn an opening order's preset TP/SL into partial plans sized to the fill."""
        now = now_ms()
        for kind, value in (("profit_plan", order.preset_tp), ("loss_plan", order.preset_sl)):
            if value:
                plan = Plan(plan_id=self._new_id(), client_oid=self._new_id(), symbol=order.symbol,
                            plan_type=kind, hold_side=order.hold_side, trigger_price=value,
                            trigger_type="mark_price", execute_price=ZERO, size=order.filled,
                            c_time=now, u_time=now, entry_point=order.entry_point)
                acc.plans[plan.plan_id] = plan
