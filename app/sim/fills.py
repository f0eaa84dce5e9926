"""Executions per account (fills with realized profit and fee) and the fills / fill-history views."""
from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

from .contracts import contract_for
from .numbers import fmt, now_ms
from .state import HEDGE, Account, Order

if TYPE_CHECKING:
    from .exchange import Exchange

FILLS_KEEP = 2000  # per account, like the order history; the oldest are forgotten first
PAGE_MAX = 100


def fill_row(order: Order, trade_id: str, size: Decimal, price: Decimal, *, taker: bool, ts: int) -> dict[str, Any]:
    """One fillList row (Bitget's field names, string numbers); profit and fee are this fill's own."""
    hedge = order.pos_mode == HEDGE
    fee = -order.fee  # one execution per order: the order's totals are this fill's
    return {
        "tradeId": trade_id, "symbol": order.symbol, "orderId": order.order_id, "price": fmt(price),
        "baseVolume": fmt(size),
        "feeDetail": [{"deduction": "no", "feeCoin": "USDT", "totalDeductionFee": "0", "totalFee": fmt(fee)}],
        "side": order.side, "quoteVolume": fmt(size * price), "profit": fmt(order.profit),
        "enterPointSource": order.entry_point,
        "tradeSide": ("close" if order.reduce else "open") if hedge else f"{order.side}_single",
        "posMode": order.pos_mode, "tradeScope": "taker" if taker else "maker", "cTime": str(ts),
    }


class FillsMixin:
    """Record each execution and serve GET mix/order/fills and fill-history."""

    def _add_fill(self: Exchange, acc: Account, order: Order, size: Decimal, price: Decimal, *,
                  taker: bool) -> None:
        """Remember one execution of this account (call with the lock held)."""
        acc.fills.append(fill_row(order, self._new_id(), size, price, taker=taker, ts=now_ms()))
        excess = len(acc.fills) - FILLS_KEEP
        if excess > 0:
            del acc.fills[:excess]

    def fills_view(self: Exchange, acc: Account, *, symbol: str = "", order_id: str = "",
                   start_time: int | None = None, end_time: int | None = None, id_less_than: str = "",
                   limit: int = PAGE_MAX) -> dict[str, Any]:
        """Fills newest first with Bitget's filters; fillList and endId are null when there are none."""
        with self.lock:
            wanted = contract_for(symbol).symbol if symbol else ""
            below = int(id_less_than) if id_less_than else None
            rows = []
            for row in reversed(acc.fills):
                ts = int(row["cTime"])
                if ((wanted and row["symbol"] != wanted) or (order_id and row["orderId"] != order_id)
                        or (start_time is not None and ts < start_time)
                        or (end_time is not None and ts > end_time)
                        or (below is not None and int(row["tradeId"]) >= below)):
                    continue
                rows.append({**row, "feeDetail": [dict(item) for item in row["feeDetail"]]})
                if len(rows) >= max(1, min(PAGE_MAX, limit)):
                    break
            if not rows:
                return {"fillList": None, "endId": None}
            return {"fillList": rows, "endId": rows[-1]["tradeId"]}

    def fill_rows(self: Exchange, name: str) -> list[dict[str, Any]]:
        """Every remembered fill of a named account, oldest first (tests and the operator)."""
        with self.lock:
            return [dict(row) for row in self.account(name).fills]
