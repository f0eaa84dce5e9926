"""Operate an account by name without signing (the manual page, admin /_sim/trade and tests)."""
from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

from .contracts import contract_for
from .errors import NO_POSITION, fail, param_error
from .numbers import fmt, to_decimal
from .state import HEDGE
from .tpsl import PlanRequest
from .trading import OrderRequest
from .views import order_row

if TYPE_CHECKING:
    from .exchange import Exchange


def _side(value: Any) -> str:
    side = str(value or "").lower()
    if side in ("buy", "long"):
        return "long"
    if side in ("sell", "short"):
        return "short"
    raise param_error("side must be long or short")


def _amount(value: Any, name: str, required: bool = True) -> Decimal | None:
    if value in (None, "") and not required:
        return None
    number = to_decimal(value)
    if number is None:
        raise param_error(f"{name} must be a number")
    return number


class OperatorMixin:
    """trade(): open / close / close_all / set_tpsl / cancel for an account named by the operator."""

    def trade(self: Exchange, account: str, action: str, **params: Any) -> dict[str, Any]:
        """Run one operator action on a named account and describe what happened."""
        handlers = {"open": self.open_position, "close": self.close_position, "close_all": self.close_all,
                    "set_tpsl": self.set_tpsl, "cancel": self.cancel_by_id}
        handler = handlers.get(action)
        if handler is None:
            raise param_error(f"unknown action {action!r}; use one of {', '.join(handlers)}")
        return handler(account, **params)

    def open_position(self: Exchange, account: str, symbol: str, side: str, size: Any, *,
                      leverage: Any = None, margin_mode: str | None = None, order_type: str = "market",
                      price: Any = None, client_oid: str = "") -> dict[str, Any]:
        """Open or add to a position (setting margin mode and leverage first when given)."""
        with self.lock:
            acc = self.account(account)
            spec = contract_for(symbol)
            hold = _side(side)
            if margin_mode:
                self.set_margin_mode(acc, spec.symbol, margin_mode)
            if leverage not in (None, ""):
                self.set_leverage(acc, spec.symbol, int(_amount(leverage, "leverage")), hold_side=hold)
            hedge = acc.pos_mode == HEDGE
            req = OrderRequest(
                symbol=spec.symbol, size=_amount(size, "size"), side="buy" if hold == "long" else "sell",
                order_type=order_type, margin_mode=acc.symbol_settings(spec.symbol).margin_mode,
                trade_side="open" if hedge else "", price=_amount(price, "price", order_type == "limit"),
                client_oid=client_oid, entry_point="WEB")
            return order_row(self.place_order(acc, req), detail=True)

    def close_position(self: Exchange, account: str, symbol: str, side: str, size: Any = None) -> dict[str, Any]:
        """Close a position side at the mark, wholly or partly."""
        with self.lock:
            acc = self.account(account)
            spec = contract_for(symbol)
            pos = acc.positions.get((spec.symbol, _side(side)))
            if pos is None:
                raise fail(NO_POSITION)
            amount = _amount(size, "size", required=False)
            if amount is not None and amount < pos.size:
                spec.check_size(amount, market=True)
            order = self.force_close(acc, pos, "market", "WEB", size=amount)
            self._changed()
            return order_row(order, detail=True)

    def close_all(self: Exchange, account: str, symbol: str = "") -> dict[str, Any]:
        """Flash close every position of the account (or of one symbol)."""
        return self.close_positions(self.account(account), symbol or None, entry_point="WEB")

    def cancel_by_id(self: Exchange, account: str, order_id: str, symbol: str = "") -> dict[str, Any]:
        """Cancel a resting order by id."""
        with self.lock:
            acc = self.account(account)
            order = self.find_order(acc, order_id)
            sym = symbol or (order.symbol if order else "BTCUSDT")
            return order_row(self.cancel_order(acc, sym, order_id=order_id), detail=True)

    def set_tpsl(self: Exchange, account: str, symbol: str, side: str, *, tp: Any = None,
                 sl: Any = None) -> dict[str, Any]:
        """Set, move or clear (empty string or 0) a position's TP and SL; None leaves one unchanged."""
        with self.lock:
            acc = self.account(account)
            spec = contract_for(symbol)
            hold = _side(side)
            if (spec.symbol, hold) not in acc.positions:
                raise fail(NO_POSITION)
            tp_plan, sl_plan = self._position_plans(acc, spec.symbol, hold)
            result = {}
            for kind, value, plan in (("pos_profit", tp, tp_plan), ("pos_loss", sl, sl_plan)):
                if value is None:
                    continue
                result[kind] = self._apply_tpsl(acc, spec.symbol, hold, kind, value, plan)
            return result

    def _apply_tpsl(self: Exchange, acc: Any, symbol: str, hold: str, kind: str, value: Any,
                    plan: Any) -> str:
        price = to_decimal(value) if value != "" else Decimal(0)
        if price is None:
            raise param_error("TP/SL must be a price")
        if price == 0:
            if plan is not None:
                self.cancel_plans(acc, kind, symbol=symbol, ids=[{"orderId": plan.plan_id}])
            return "cleared"
        if plan is not None:
            self.modify_tpsl(acc, symbol, order_id=plan.plan_id, trigger_price=price)
            return fmt(price)
        wire_side = hold if acc.pos_mode == HEDGE else ("buy" if hold == "long" else "sell")
        self.place_tpsl(acc, PlanRequest(symbol=symbol, plan_type=kind, trigger_price=price,
                                          hold_side=wire_side, trigger_type="mark_price", entry_point="WEB"))
        return fmt(price)
