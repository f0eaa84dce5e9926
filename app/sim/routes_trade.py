"""Private order endpoints: place, batch place, flash close, cancel, pending, detail, fills."""
from __future__ import annotations

from typing import Any

from .errors import SimError, param_error
from .registry import Call, endpoint
from .trading import OrderRequest

BATCH_MAX = 50
FORCES = ("gtc", "ioc", "fok", "post_only")


def parse_order(call: Call, item: dict[str, Any], symbol: str, margin_mode: str) -> OrderRequest:
    """Turn one order's wire parameters into an OrderRequest."""
    order_type = call.choice("orderType", ("limit", "market"), required=True, source=item)
    size = call.decimal("size", required=True, source=item)
    assert size is not None
    return OrderRequest(
        symbol=symbol, size=size, side=call.choice("side", ("buy", "sell"), required=True, source=item),
        order_type=order_type, margin_mode=margin_mode,
        trade_side=call.choice("tradeSide", ("open", "close"), source=item),
        price=call.decimal("price", required=order_type == "limit", source=item) if order_type == "limit" else None,
        force=call.choice("force", FORCES, default="gtc", source=item),
        client_oid=call.text("clientOid", source=item),
        reduce_only=call.choice("reduceOnly", ("YES", "NO"), default="NO", source=item) == "YES",
        preset_tp=call.decimal("presetStopSurplusPrice", source=item) or None,
        preset_sl=call.decimal("presetStopLossPrice", source=item) or None,
    )


def _top(call: Call) -> tuple[str, str]:
    call.margin_coin()
    return call.symbol(), call.choice("marginMode", ("isolated", "crossed"), required=True)


@endpoint("POST", "/api/v2/mix/order/place-order", trading=True)
def place_order(call: Call) -> dict[str, str]:
    """Place one order (market orders fill at the mark at once)."""
    symbol, margin_mode = _top(call)
    order = call.exchange.place_order(call.acc, parse_order(call, call.params, symbol, margin_mode))
    return ack(order.order_id, order.client_oid, order.ack_without_id)


def ack(order_id: str, client_oid: str, without_id: bool = False) -> dict[str, str]:
    """{orderId, clientOid}; no orderId when placing it cancelled older one-way reduce-only orders (9.1)."""
    return {"clientOid": client_oid} if without_id else {"clientOid": client_oid, "orderId": order_id}


@endpoint("POST", "/api/v2/mix/order/batch-place-order", trading=True)
def batch_place_order(call: Call) -> dict[str, Any]:
    """Place up to 50 orders of one symbol; failures are listed, the envelope stays 00000."""
    symbol, margin_mode = _top(call)
    items = call.params.get("orderList")
    if not isinstance(items, list) or not items or len(items) > BATCH_MAX:
        raise param_error(f"orderList must hold 1 to {BATCH_MAX} orders")
    done, failed = [], []
    for item in items:
        oid = str(item.get("clientOid") or "") if isinstance(item, dict) else ""
        try:
            if not isinstance(item, dict):
                raise param_error("orderList items must be objects")
            order = call.exchange.place_order(call.acc, parse_order(call, item, symbol, margin_mode))
            done.append(ack(order.order_id, order.client_oid, order.ack_without_id))
        except SimError as exc:
            failed.append({"orderId": "", "clientOid": oid, "errorMsg": exc.msg, "errorCode": exc.code})
    return {"successList": done, "failureList": failed}


@endpoint("POST", "/api/v2/mix/order/close-positions", trading=True)
def close_positions(call: Call) -> dict[str, Any]:
    """Flash close at the mark (all, one symbol, or one hedge side); 22002 when nothing is open."""
    hold_side = call.choice("holdSide", ("long", "short"))
    return call.exchange.close_positions(call.acc, call.symbol(required=False) or None, hold_side or None)


@endpoint("POST", "/api/v2/mix/order/cancel-order", trading=True)
def cancel_order(call: Call) -> dict[str, str]:
    """Cancel a resting order by orderId or clientOid."""
    call.margin_coin(required=False)
    order_id, client_oid = call.text("orderId"), call.text("clientOid")
    if not order_id and not client_oid:
        raise param_error("orderId or clientOid is required")
    order = call.exchange.cancel_order(call.acc, call.symbol(), order_id, client_oid)
    return {"orderId": order.order_id, "clientOid": order.client_oid}


@endpoint("POST", "/api/v2/mix/order/cancel-all-orders", trading=True)
def cancel_all_orders(call: Call) -> dict[str, Any]:
    """Cancel every resting order of the product type (or of one symbol); plans stay (REFERENCE 9.4)."""
    call.margin_coin(required=False)
    return call.exchange.cancel_all_orders(call.acc, call.symbol(required=False))


@endpoint("POST", "/api/v2/mix/order/batch-cancel-orders", trading=True)
def batch_cancel_orders(call: Call) -> dict[str, Any]:
    """Cancel listed orders ({orderId|clientOid}, symbol required), or without a list every resting one."""
    call.margin_coin(required=False)
    ids = call.params.get("orderIdList")
    if ids in (None, []):
        return call.exchange.cancel_all_orders(call.acc, call.symbol(required=False))
    if not isinstance(ids, list) or len(ids) > BATCH_MAX or not all(isinstance(i, dict) for i in ids):
        raise param_error(f"orderIdList must be a list of at most {BATCH_MAX} {{orderId|clientOid}} objects")
    symbol = call.symbol()
    done, failed = [], []
    for item in ids:
        order_id, client_oid = str(item.get("orderId") or ""), str(item.get("clientOid") or "")
        try:
            order = call.exchange.cancel_order(call.acc, symbol, order_id, client_oid)
            done.append({"orderId": order.order_id, "clientOid": order.client_oid})
        except SimError as exc:
            failed.append({"orderId": order_id, "clientOid": client_oid, "errorMsg": exc.msg, "errorCode": exc.code})
    return {"successList": done, "failureList": failed}


@endpoint("GET", "/api/v2/mix/order/orders-history")
def orders_history(call: Call) -> dict[str, Any]:
    """Finished orders (filled, canceled) newest first, filtered like orders-pending (null list when none)."""
    start, end = call.integer("startTime"), call.integer("endTime")
    if start is not None and end is not None and start > end:
        raise param_error("startTime must not be after endTime")
    id_less_than = call.text("idLessThan")
    if id_less_than and not id_less_than.isdigit():
        raise param_error("idLessThan must be an orderId")
    return call.exchange.order_history(
        call.acc, symbol=call.symbol(required=False), order_id=call.text("orderId"),
        client_oid=call.text("clientOid"), start_time=start, end_time=end, id_less_than=id_less_than,
        limit=max(1, min(100, call.integer("limit") or 100)))


@endpoint("GET", "/api/v2/mix/order/orders-pending")
def orders_pending(call: Call) -> dict[str, Any]:
    """Resting orders (entrustedList null when none)."""
    limit = call.integer("limit") or 100
    return call.exchange.pending_orders(
        call.acc, symbol=call.symbol(required=False), order_id=call.text("orderId"),
        client_oid=call.text("clientOid"), status=call.choice("status", ("live", "partially_filled")),
        id_less_than=call.text("idLessThan"), limit=max(1, min(100, limit)))


@endpoint("GET", "/api/v2/mix/order/detail")
def order_detail(call: Call) -> dict[str, Any]:
    """One order by orderId or clientOid (40109 when unknown)."""
    order_id, client_oid = call.text("orderId"), call.text("clientOid")
    if not order_id and not client_oid:
        raise param_error("orderId or clientOid is required")
    return call.exchange.order_detail(call.acc, call.symbol(), order_id, client_oid)


def _fills(call: Call) -> dict[str, Any]:
    """Shared by fills and fill-history: newest first, filtered, at most `limit` (<= 100) rows."""
    start, end = call.integer("startTime"), call.integer("endTime")
    if start is not None and end is not None and start > end:
        raise param_error("startTime must not be after endTime")
    id_less_than = call.text("idLessThan")
    if id_less_than and not id_less_than.isdigit():
        raise param_error("idLessThan must be a tradeId")
    return call.exchange.fills_view(
        call.acc, symbol=call.symbol(required=False), order_id=call.text("orderId"), start_time=start,
        end_time=end, id_less_than=id_less_than, limit=max(1, min(100, call.integer("limit") or 100)))


@endpoint("GET", "/api/v2/mix/order/fills")
def fills(call: Call) -> dict[str, Any]:
    """Recent executions with realized profit and fees (fillList and endId null when none)."""
    return _fills(call)


@endpoint("GET", "/api/v2/mix/order/fill-history")
def fill_history(call: Call) -> dict[str, Any]:
    """Older executions: the same shape and filters as fills (the simulator keeps one history)."""
    return _fills(call)
