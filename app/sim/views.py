"""Wire rows (Bitget v2 field names, string numbers) built from the simulator's records."""
from __future__ import annotations

from decimal import Decimal
from typing import Any

from .contracts import CONTRACTS, MARGIN_COIN
from .margin import Metrics, liquidation_price, margin_ratio, unrealized
from .numbers import ZERO, fmt, round_to
from .state import CROSSED, HEDGE, Account, Order, Plan, Position, SymbolSettings

PLAN_SOURCES = {"pos_profit": "pos_profit", "pos_loss": "pos_loss", "profit_plan": "profit", "loss_plan": "loss"}


def position_row(acc: Account, pos: Position, mark: Decimal, cushion: Decimal, *, locked: Decimal,
                 delegate: Decimal, tpsl: tuple[Plan | None, Plan | None] | None) -> dict[str, Any]:
    """One row of all-position (with TP/SL fields) or single-position (tpsl=None)."""
    spec = CONTRACTS[pos.symbol]
    backing = cushion if pos.margin_mode == CROSSED else ZERO
    liq = liquidation_price(pos, backing)
    fee_per_unit = pos.fees / pos.size if pos.size else ZERO
    close_fee = pos.entry * spec.taker_fee_rate
    if pos.hold_side == "long":
        break_even = pos.entry + fee_per_unit + close_fee
    else:
        break_even = pos.entry - fee_per_unit - close_fee
    row: dict[str, Any] = {
        "marginCoin": MARGIN_COIN, "symbol": pos.symbol, "holdSide": pos.hold_side,
        "openDelegateSize": fmt(delegate), "marginSize": fmt(pos.margin), "available": fmt(pos.size - locked),
        "locked": fmt(locked), "total": fmt(pos.size), "leverage": str(pos.leverage),
        "achievedProfits": fmt(pos.achieved), "openPriceAvg": fmt(pos.entry), "marginMode": pos.margin_mode,
        "posMode": acc.pos_mode, "unrealizedPL": fmt(unrealized(pos, mark)),
        "liquidationPrice": fmt(round_to(liq, spec.tick)) if liq > 0 else "0",
        "keepMarginRate": fmt(spec.keep_margin_rate), "markPrice": fmt(mark),
        "marginRatio": fmt(margin_ratio(pos, mark, backing)),
        "breakEvenPrice": fmt(round_to(break_even, spec.tick)), "totalFee": "", "deductedFee": fmt(pos.fees),
        "assetMode": "single", "autoMargin": "off", "cTime": str(pos.c_time), "uTime": str(pos.u_time),
    }
    if tpsl is not None:
        tp, sl = tpsl
        row["grant"] = ""
        row["takeProfit"] = fmt(tp.trigger_price) if tp else ""
        row["stopLoss"] = fmt(sl.trigger_price) if sl else ""
        row["takeProfitId"] = tp.plan_id if tp else ""
        row["stopLossId"] = sl.plan_id if sl else ""
    return row


def order_row(order: Order, *, detail: bool = False, history: bool = False) -> dict[str, Any]:
    """One order as orders-pending, detail (detail=True) or orders-history (history=True) shows it."""
    hedge = order.pos_mode == HEDGE
    row: dict[str, Any] = {
        "symbol": order.symbol, "size": fmt(order.size), "orderId": order.order_id,
        "clientOid": order.client_oid, "baseVolume": fmt(order.filled), "fee": fmt(-order.fee),
        "price": fmt(order.price) if order.price is not None else "0",
        "priceAvg": fmt(order.price_avg) if order.price_avg is not None else "",
        "status": order.status, "side": order.side, "force": order.force, "totalProfits": fmt(order.profit),
        "posSide": order.hold_side if hedge else "net", "marginCoin": MARGIN_COIN,
        "quoteVolume": fmt(order.filled * (order.price_avg or ZERO)), "leverage": str(order.leverage),
        "marginMode": order.margin_mode, "reduceOnly": "YES" if order.reduce_only_flag else "NO",
        "enterPointSource": order.entry_point,
        "tradeSide": ("close" if order.reduce else "open") if hedge else f"{order.side}_single",
        "posMode": order.pos_mode, "orderType": order.order_type, "orderSource": order.source,
        "cTime": str(order.c_time), "uTime": str(order.u_time),
        "presetStopSurplusPrice": fmt(order.preset_tp),
        "presetStopSurplusType": "mark_price" if order.preset_tp else "",
        "presetStopSurplusExecutePrice": "", "presetStopLossPrice": fmt(order.preset_sl),
        "presetStopLossType": "mark_price" if order.preset_sl else "", "presetStopLossExecutePrice": "",
    }
    if detail:
        row["state"] = order.status
    if detail or history:
        row["cancelReason"] = order.cancel_reason
    return row


def plan_row(acc: Account, plan: Plan, margin_mode: str, *, one_way_side: str = "position") -> dict[str, Any]:
    """One row of orders-plan-pending (planType=profit_loss).

    side/tradeSide: hedge rows name the position's direction and close; one-way rows follow the variant
    one_way_plan_side: "position" (buy for a long, close) or "close_trade" (sell for a long, sell_single).
    """
    limit = plan.execute_price > 0
    side, trade_side = ("buy" if plan.hold_side == "long" else "sell"), "close"
    if acc.pos_mode != HEDGE and one_way_side == "close_trade":
        side = "sell" if plan.hold_side == "long" else "buy"
        trade_side = f"{side}_single"
    return {
        "symbol": plan.symbol, "marginCoin": MARGIN_COIN, "marginMode": margin_mode,
        "enterPointSource": plan.entry_point, "posMode": acc.pos_mode,
        "orderType": "limit" if limit else "market", "price": fmt(plan.execute_price),
        "executePrice": fmt(plan.execute_price), "callbackRatio": "", "triggerType": plan.trigger_type,
        "planStatus": "live", "uTime": str(plan.u_time) if plan.u_time != plan.c_time else "",
        "stopSurplusExecutePrice": "", "stopSurplusTriggerPrice": "", "stopSurplusTriggerType": "",
        "stopLossExecutePrice": "", "stopLossTriggerPrice": "", "stopLossTriggerType": "",
        "planType": plan.plan_type, "size": fmt(plan.size), "orderId": plan.plan_id,
        "clientOid": plan.client_oid, "triggerPrice": fmt(plan.trigger_price),
        "side": side, "posSide": plan.hold_side if acc.pos_mode == HEDGE else "net", "tradeSide": trade_side,
        "orderSource": f"{PLAN_SOURCES[plan.plan_type]}_{'limit' if limit else 'market'}",
        "cTime": str(plan.c_time),
    }


def balance_row(m: Metrics, btc_mark: Decimal) -> dict[str, Any]:
    """Fields shared by account and accounts."""
    equity = m.equity
    return {
        "marginCoin": MARGIN_COIN, "locked": fmt(m.frozen), "available": fmt(m.available),
        "crossedMaxAvailable": fmt(m.available), "isolatedMaxAvailable": fmt(m.available),
        "maxTransferOut": fmt(max(ZERO, min(m.available, m.available + m.upnl))),
        "accountEquity": fmt(equity), "usdtEquity": fmt(equity),
        "btcEquity": fmt((equity / btc_mark).quantize(Decimal("0.000000000001"))),
        "crossedRiskRate": fmt(m.crossed_risk_rate), "unrealizedPL": fmt(m.upnl), "coupon": "0",
        "crossedUnrealizedPL": fmt(m.crossed_upnl), "isolatedUnrealizedPL": fmt(m.isolated_upnl),
        "assetMode": "single",
    }


def account_row(acc: Account, m: Metrics, btc_mark: Decimal, settings: SymbolSettings) -> dict[str, Any]:
    """GET /api/v2/mix/account/account data (per symbol)."""
    row = balance_row(m, btc_mark)
    row.update({
        "crossedMarginLeverage": str(settings.cross_leverage), "isolatedLongLever": str(settings.long_leverage),
        "isolatedShortLever": str(settings.short_leverage), "marginMode": settings.margin_mode,
        "posMode": acc.pos_mode,
    })
    return row


def accounts_row(m: Metrics, btc_mark: Decimal) -> dict[str, Any]:
    """One entry of GET /api/v2/mix/account/accounts."""
    row = balance_row(m, btc_mark)
    row.update({
        "unionTotalMagin": "0", "unionTotalMargin": "0", "unionAvailable": "0", "unionMm": "0",
        "assetList": [], "isolatedMargin": fmt(m.isolated_margin), "crossedMargin": fmt(m.crossed_margin),
    })
    return row


def account_info_row(acc: Account) -> dict[str, Any]:
    """GET /api/v2/spot/account/info data; authorities reflect a read-only key."""
    authorities = ["coor", "cpor", "stor"] if acc.read_only else ["coor", "cpor", "coow", "cpow", "stor", "stow"]
    return {
        "userId": acc.user_id, "inviterId": "0", "ips": "", "authorities": authorities,
        "parentId": int(acc.user_id), "traderType": "not_trader", "channelCode": "", "channel": "",
        "regisTime": str(acc.c_time),
    }
