"""Private TP/SL endpoints: place, modify, cancel, list."""
from __future__ import annotations

from typing import Any

from .errors import param_error
from .numbers import ZERO
from .registry import Call, endpoint
from .tpsl import PlanRequest

PLAN_TYPES = ("pos_profit", "pos_loss", "profit_plan", "loss_plan", "moving_plan")


@endpoint("POST", "/api/v2/mix/order/place-tpsl-order", trading=True)
def place_tpsl_order(call: Call) -> dict[str, str]:
    """Attach one TP or SL plan to a position side."""
    call.margin_coin()
    trigger = call.decimal("triggerPrice", required=True)
    assert trigger is not None
    plan = call.exchange.place_tpsl(call.acc, PlanRequest(
        symbol=call.symbol(), plan_type=call.choice("planType", PLAN_TYPES, required=True),
        trigger_price=trigger, hold_side=call.text("holdSide", required=True).lower(),
        trigger_type=call.text("triggerType") or call.exchange.variants.default_trigger_type,
        execute_price=call.decimal("executePrice") or ZERO,
        size=call.decimal("size"), client_oid=call.text("clientOid")))
    return {"clientOid": plan.client_oid, "orderId": plan.plan_id}


@endpoint("POST", "/api/v2/mix/order/modify-tpsl-order", trading=True)
def modify_tpsl_order(call: Call) -> dict[str, str]:
    """Move a plan's trigger price (size '' for pos_profit/pos_loss)."""
    call.margin_coin()
    order_id, client_oid = call.text("orderId"), call.text("clientOid")
    if not order_id and not client_oid:
        raise param_error("orderId or clientOid is required")
    trigger = call.decimal("triggerPrice", required=True)
    assert trigger is not None
    plan = call.exchange.modify_tpsl(
        call.acc, call.symbol(), order_id=order_id, client_oid=client_oid, trigger_price=trigger,
        trigger_type=call.text("triggerType"), execute_price=call.decimal("executePrice"),
        size=call.decimal("size") or None)
    return {"orderId": plan.plan_id, "clientOid": plan.client_oid}


@endpoint("POST", "/api/v2/mix/order/cancel-plan-order", trading=True)
def cancel_plan_order(call: Call) -> dict[str, Any]:
    """Cancel listed plans of one planType, or all of that planType (default normal_plan)."""
    call.margin_coin(required=False)
    ids = call.params.get("orderIdList")
    if ids is not None and (not isinstance(ids, list) or not all(isinstance(i, dict) for i in ids)):
        raise param_error("orderIdList must be a list of {orderId|clientOid} objects")
    symbol = call.symbol(required=ids is not None)
    plan_type = call.choice("planType", (*PLAN_TYPES, "normal_plan", "track_plan", "profit_loss"),
                            default="normal_plan")
    if plan_type == "profit_loss" and call.exchange.variants.cancel_plan_profit_loss == "refuse":
        raise param_error("planType Illegal type")
    return call.exchange.cancel_plans(call.acc, plan_type, symbol=symbol, ids=ids)


@endpoint("POST", "/api/v2/mix/order/place-pos-tpsl", trading=True)
def place_pos_tpsl(call: Call) -> list[dict[str, str]]:
    """TP and SL of one position side in one call: a leg with a size is partial, without one position-level."""
    call.margin_coin()
    legs = []
    for prefix, profit in (("stopSurplus", True), ("stopLoss", False)):
        trigger = call.decimal(f"{prefix}TriggerPrice")
        if trigger is None:
            continue
        size = call.decimal(f"{prefix}Size") or None
        kind = ("profit_plan" if profit else "loss_plan") if size else ("pos_profit" if profit else "pos_loss")
        legs.append(PlanRequest(
            symbol=call.symbol(), plan_type=kind, trigger_price=trigger,
            hold_side=call.text("holdSide", required=True).lower(),
            trigger_type=call.text(f"{prefix}TriggerType") or call.exchange.variants.default_trigger_type,
            execute_price=call.decimal(f"{prefix}ExecutePrice") or ZERO, size=size,
            client_oid=call.text(f"{prefix}ClientOid")))
    if not legs:
        raise param_error("stopSurplusTriggerPrice or stopLossTriggerPrice is required")
    plans = call.exchange.place_tpsl_legs(call.acc, legs)
    tp = next((p.client_oid for p in plans if p.plan_type in ("pos_profit", "profit_plan")), "")
    sl = next((p.client_oid for p in plans if p.plan_type in ("pos_loss", "loss_plan")), "")
    return [{"orderId": plan.plan_id, "stopSurplusClientOid": tp, "stopLossClientOid": sl} for plan in plans]


@endpoint("GET", "/api/v2/mix/order/orders-plan-pending")
def orders_plan_pending(call: Call) -> dict[str, Any]:
    """Pending plans; planType=profit_loss lists every TP/SL kind (entrustedList null when none)."""
    plan_type = call.text("planType", required=True)
    return call.exchange.pending_plans(call.acc, plan_type, symbol=call.symbol(required=False),
                                       order_id=call.text("orderId"), client_oid=call.text("clientOid"))
