"""Read-only views of an account (positions, balances, orders) as an Exchange mixin."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .contracts import contract_for
from .errors import DETAIL_MISSING, fail
from .state import Account, Plan
from .views import account_info_row, account_row, accounts_row, order_row, position_row

if TYPE_CHECKING:
    from .exchange import Exchange


class QueryMixin:
    """all-position, single-position, account, accounts, orders-pending, detail, account info."""

    def positions_view(self: Exchange, acc: Account, symbol: str | None = None) -> list[dict[str, Any]]:
        """Open positions newest first; with a symbol, the single-position shape (no TP/SL fields)."""
        with self.lock:
            wanted = contract_for(symbol).symbol if symbol else None
            free = self.metrics(acc).available
            rows = []
            for pos in sorted(acc.positions.values(), key=lambda p: (p.c_time, p.symbol), reverse=True):
                if wanted and pos.symbol != wanted:
                    continue
                tpsl = None if wanted else self._position_plans(acc, pos.symbol, pos.hold_side)
                rows.append(position_row(
                    acc, pos, self.prices.prices[pos.symbol], free,
                    locked=self._locked(acc, pos.symbol, pos.hold_side),
                    delegate=self._delegated(acc, pos.symbol, pos.hold_side), tpsl=tpsl))
            return rows

    def _position_plans(self: Exchange, acc: Account, symbol: str, side: str) -> tuple[Plan | None, Plan | None]:
        tp = sl = None
        for plan in acc.plans.values():
            if plan.symbol == symbol and plan.hold_side == side:
                if plan.plan_type == "pos_profit":
                    tp = plan
                elif plan.plan_type == "pos_loss":
                    sl = plan
        return tp, sl

    def account_view(self: Exchange, acc: Account, symbol: str) -> dict[str, Any]:
        """GET mix/account/account data for one symbol."""
        with self.lock:
            spec = contract_for(symbol)
            return account_row(acc, self.metrics(acc), self.prices.prices["BTCUSDT"],
                               acc.symbol_settings(spec.symbol))

    def accounts_view(self: Exchange, acc: Account) -> list[dict[str, Any]]:
        """GET mix/account/accounts data (one USDT entry)."""
        with self.lock:
            return [accounts_row(self.metrics(acc), self.prices.prices["BTCUSDT"])]

    def metrics_equity(self: Exchange, acc: Account) -> Any:
        """The account's equity at the current marks."""
        with self.lock:
            return self.metrics(acc).equity

    def account_info(self: Exchange, acc: Account) -> dict[str, Any]:
        """GET spot/account/info data."""
        with self.lock:
            return account_info_row(acc)

    def pending_orders(self: Exchange, acc: Account, *, symbol: str = "", order_id: str = "",
                       client_oid: str = "", status: str = "", id_less_than: str = "",
                       limit: int = 100) -> dict[str, Any]:
        """Resting orders newest first; entrustedList and endId are null when there are none."""
        with self.lock:
            wanted = contract_for(symbol).symbol if symbol else ""
            rows = []
            for order in sorted(acc.live_orders.values(), key=lambda o: int(o.order_id), reverse=True):
                if ((wanted and order.symbol != wanted) or (order_id and order.order_id != order_id)
                        or (client_oid and order.client_oid != client_oid)
                        or (status and order.status != status)
                        or (id_less_than and int(order.order_id) >= int(id_less_than))):
                    continue
                rows.append(order_row(order))
                if len(rows) >= limit:
                    break
            if not rows:
                return {"entrustedList": None, "endId": None}
            return {"entrustedList": rows, "endId": rows[-1]["orderId"]}

    def order_history(self: Exchange, acc: Account, *, symbol: str = "", order_id: str = "", client_oid: str = "",
                      start_time: int | None = None, end_time: int | None = None, id_less_than: str = "",
                      limit: int = 100) -> dict[str, Any]:
        """Finished (filled or canceled) orders newest first; entrustedList and endId null when none."""
        with self.lock:
            wanted = contract_for(symbol).symbol if symbol else ""
            rows = []
            for order in sorted(acc.orders.values(), key=lambda o: int(o.order_id), reverse=True):
                if (order.status == "live" or (wanted and order.symbol != wanted)
                        or (order_id and order.order_id != order_id)
                        or (client_oid and order.client_oid != client_oid)
                        or (start_time is not None and order.c_time < start_time)
                        or (end_time is not None and order.c_time > end_time)
                        or (id_less_than and int(order.order_id) >= int(id_less_than))):
                    continue
                rows.append(order_row(order, history=True))
                if len(rows) >= limit:
                    break
            if not rows:
                return {"entrustedList": None, "endId": None}
            return {"entrustedList": rows, "endId": rows[-1]["orderId"]}

    def plan_rows(self: Exchange, name: str) -> list[dict[str, Any]]:
        """Every TP/SL plan of a named account, in the orders-plan-pending row shape."""
        with self.lock:
            return self.pending_plans(self.account(name), "profit_loss")["entrustedList"] or []

    def order_detail(self: Exchange, acc: Account, symbol: str, order_id: str = "",
                     client_oid: str = "") -> dict[str, Any]:
        """GET mix/order/detail data by orderId (wins) or clientOid; 40109 when unknown."""
        with self.lock:
            spec = contract_for(symbol)
            order = self.find_order(acc, order_id, client_oid)
            if order is None or order.symbol != spec.symbol:
                raise fail(DETAIL_MISSING)
            return order_row(order, detail=True)
