"""Order placement, fills, cancels and flash close (hedge and one-way semantics) as an Exchange mixin."""
from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from itertools import islice
from typing import TYPE_CHECKING, Any

from .contracts import CONTRACTS, ContractSpec, contract_for
from .errors import (
    CLIENT_OID_CHARS,
    CLIENT_OID_LONG,
    DUPLICATE_OID,
    INSUFFICIENT,
    NO_ORDER_TO_CANCEL,
    NO_POSITION,
    NOT_ENOUGH_POSITION,
    ONE_WAY_STYLE,
    ORDER_MISSING,
    SimError,
    fail,
    param_error,
)
from .margin import Metrics, close_pnl, free_margin, metrics
from .numbers import ZERO, fmt, money, now_ms
from .state import HEDGE, Account, Order, Position

if TYPE_CHECKING:
    from .exchange import Exchange

CLIENT_OID_RE = re.compile(r"^[0-9A-Za-z_+#-]+$")
HISTORY_KEEP = 2000


@dataclass
class OrderRequest:
    """A place-order request after wire parsing (sizes and prices as Decimals)."""

    symbol: str
    size: Decimal
    side: str
    order_type: str
    margin_mode: str
    trade_side: str = ""
    price: Decimal | None = None
    force: str = "gtc"
    client_oid: str = ""
    reduce_only: bool = False
    preset_tp: Decimal | None = None
    preset_sl: Decimal | None = None
    entry_point: str = "API"


def other_side(side: str) -> str:
    """The opposite position side."""
    return "short" if side == "long" else "long"


def claim_client_oid(oid: str, taken: Any) -> None:
    """Validate a clientOid's form and uniqueness (40305 / 40304 / 40786)."""
    if len(oid) > 50:
        raise fail(CLIENT_OID_LONG)
    if not CLIENT_OID_RE.match(oid):
        raise fail(CLIENT_OID_CHARS)
    if oid in taken:
        raise fail(DUPLICATE_OID)


def trade_direction(order: Order) -> str:
    """'buy' or 'sell': the market direction of an order whatever the position mode."""
    if order.pos_mode == HEDGE:
        return "buy" if (order.hold_side == "long") != order.reduce else "sell"
    return order.side


class TradingMixin:
    """place-order, batch, cancel-order, close-positions, orders-pending and detail."""

    def metrics(self: Exchange, acc: Account) -> Metrics:
        """An account's balance sheet at the current marks."""
        return metrics(acc, self.prices.prices)

    def place_order(self: Exchange, acc: Account, req: OrderRequest) -> Order:
        """Validate and place one order; market orders fill at once at the mark price."""
        with self.lock:
            order = self._place(acc, req)
            self._changed()
            return order

    def _place(self: Exchange, acc: Account, req: OrderRequest) -> Order:
        spec = contract_for(req.symbol)
        hold_side, reduce = self._intent(acc, req)
        self.check_symbol_status(spec.symbol, "close" if reduce else "open", req.entry_point)
        if not reduce:
            self._check_margin_mode(acc, spec.symbol, req.margin_mode)
        spec.check_size(req.size, market=req.order_type == "market")
        if req.order_type == "limit":
            if req.price is None:
                raise param_error("price is required for limit orders")
            spec.check_price(req.price)
        if req.client_oid:
            claim_client_oid(req.client_oid, acc.oid_index)
        mark = self.prices.prices[spec.symbol]
        reserve = ZERO
        displaced = False
        if reduce:
            displaced = self._check_close(acc, spec.symbol, hold_side, req)
        else:
            reserve = self._check_open(acc, spec, hold_side, req, mark)
        order = self._new_order(acc, req, hold_side, reduce)
        order.ack_without_id = displaced and self.variants.one_way_close_ack == "no_order_id"
        if req.order_type == "market":
            self._execute(acc, order, mark, taker=True)
        else:
            order.reserved = reserve
            self._submit_limit(acc, order, mark)
        self._trim_history(acc)
        return order

    def _intent(self: Exchange, acc: Account, req: OrderRequest) -> tuple[str, bool]:
        """(position side the order acts on, whether it reduces) per the account's position mode."""
        if acc.pos_mode == HEDGE:
            if req.trade_side not in ("open", "close"):
                raise fail(ONE_WAY_STYLE)
            return ("long" if req.side == "buy" else "short"), req.trade_side == "close"
        if req.trade_side:
            raise fail(ONE_WAY_STYLE)
        if req.reduce_only:
            return ("long" if req.side == "sell" else "short"), True
        return ("long" if req.side == "buy" else "short"), False

    def _check_margin_mode(self: Exchange, acc: Account, symbol: str, margin_mode: str) -> None:
        current = acc.symbol_settings(symbol).margin_mode
        if margin_mode != current and self.variants.margin_mode_mismatch == "refuse":
            raise param_error(f"marginMode {margin_mode} differs from the symbol's margin mode {current}; "
                              "call set-margin-mode first")

    def _check_close(self: Exchange, acc: Account, symbol: str, hold_side: str, req: OrderRequest) -> bool:
        """Check a closing order against the position; True when older reduce-only orders were cancelled.

        Larger than the whole position: 40757 or shrunk (variant oversized_close). One-way (REFERENCE 9.1): when
        new + resting reduce-only orders exceed the position, the older ones are cancelled (oldest first) until the
        new one fits. Hedge: a limit close beyond the free size is refused; a market close takes the free part
        (or, when resting closes cover the whole position, cancels them): see _reduce.
        """
        pos = acc.positions.get((symbol, hold_side))
        if pos is None:
            raise fail(NO_POSITION)
        if req.size > pos.size and self.variants.oversized_close == "refuse":
            raise fail(NOT_ENOUGH_POSITION)
        locked = self._locked(acc, symbol, hold_side)
        if req.size <= pos.size - locked:
            return False
        if acc.pos_mode != HEDGE:
            return self._make_room(acc, symbol, hold_side, min(req.size, pos.size), pos.size)
        if req.order_type == "limit":
            raise fail(NOT_ENOUGH_POSITION)
        return False

    def _make_room(self: Exchange, acc: Account, symbol: str, side: str, size: Decimal, held: Decimal) -> bool:
        """Cancel resting reduce-only orders of a one-way position, oldest first, until `size` more fits."""
        resting = sorted((o for o in acc.live_orders.values() if o.symbol == symbol and o.reduce
                          and o.hold_side == side), key=lambda o: int(o.order_id))
        locked = sum((o.size for o in resting), ZERO)
        cancelled = False
        for order in resting:
            if size <= held - locked:
                break
            self._cancel(acc, order, "reduce_only_replaced")
            locked -= order.size
            cancelled = True
        return cancelled

    def _check_open(self: Exchange, acc: Account, spec: ContractSpec, hold_side: str, req: OrderRequest,
                    mark: Decimal) -> Decimal:
        """Minimum notional and margin checks; returns the margin to reserve for a resting order."""
        price = req.price if req.order_type == "limit" and req.price is not None else mark
        if req.size * price < spec.min_trade_usdt:
            raise SimError("45110", f"less than the minimum amount {fmt(spec.min_trade_usdt)} USDT")
        self._check_presets(acc, spec.symbol, hold_side, req, mark)
        open_size, freed = req.size, ZERO
        opposite = acc.positions.get((spec.symbol, other_side(hold_side)))
        if opposite is not None and req.order_type == "market" and acc.pos_mode != HEDGE:
            closing = min(req.size, opposite.size)
            open_size = req.size - closing
            freed = money(opposite.margin * closing / opposite.size) + close_pnl(opposite, closing, mark)
        leverage = acc.symbol_settings(spec.symbol).leverage_for(hold_side)
        need = money(open_size * price / leverage + open_size * price * spec.taker_fee_rate)
        if need > 0 and need > free_margin(acc, self.prices.prices) + freed:
            raise fail(INSUFFICIENT)
        return need

    def _new_order(self: Exchange, acc: Account, req: OrderRequest, hold_side: str, reduce: bool) -> Order:
        settings = acc.symbol_settings(req.symbol.upper())
        now = now_ms()
        order_id = self._new_id()
        order = Order(
            order_id=order_id, client_oid=req.client_oid or self._new_id(), symbol=req.symbol.upper(),
            size=req.size, side=req.side, trade_side=req.trade_side, hold_side=hold_side, reduce=reduce,
            order_type=req.order_type, price=req.price if req.order_type == "limit" else None,
            force=req.force, margin_mode=settings.margin_mode, leverage=settings.leverage_for(hold_side),
            pos_mode=acc.pos_mode, c_time=now, u_time=now, reduce_only_flag=req.reduce_only,
            source="normal" if req.order_type == "limit" else "market", entry_point=req.entry_point,
            preset_tp=req.preset_tp, preset_sl=req.preset_sl,
        )
        acc.orders[order_id] = order
        acc.oid_index[order.client_oid] = order_id
        return order

    def _submit_limit(self: Exchange, acc: Account, order: Order, mark: Decimal) -> None:
        crossed = self._crossed(order, mark)
        if crossed and order.force != "post_only":
            self._execute(acc, order, mark, taker=True)
        elif crossed or order.force in ("ioc", "fok"):
            self._cancel(acc, order, "normal_cancel")
        else:
            acc.live_orders[order.order_id] = order

    @staticmethod
    def _crossed(order: Order, mark: Decimal) -> bool:
        assert order.price is not None
        return mark <= order.price if trade_direction(order) == "buy" else mark >= order.price

    def _match_limits(self: Exchange, acc: Account, symbol: str, mark: Decimal) -> None:
        """Fill this account's resting limit orders on `symbol` that the mark has crossed."""
        for order in list(acc.live_orders.values()):
            if order.symbol == symbol and order.order_id in acc.live_orders and self._crossed(order, mark):
                assert order.price is not None
                self._execute(acc, order, order.price, taker=False)

    def _execute(self: Exchange, acc: Account, order: Order, price: Decimal, *, taker: bool) -> None:
        """Fill an order completely at `price` against the account's positions."""
        spec = CONTRACTS[order.symbol]
        rate = spec.taker_fee_rate if taker else spec.maker_fee_rate
        order.reserved = ZERO
        acc.live_orders.pop(order.order_id, None)
        if order.reduce:
            done = self._reduce(acc, order, order.hold_side, order.size, price, rate)
        else:
            done = ZERO
            opposite = acc.positions.get((order.symbol, other_side(order.hold_side)))
            if opposite is not None and order.pos_mode != HEDGE:
                done = self._reduce(acc, order, opposite.hold_side, min(order.size, opposite.size), price, rate)
            if order.size > done:
                self._increase(acc, order, order.size - done, price, rate)
                done = order.size
        if done == 0:
            self._cancel(acc, order, "no_position")
            return
        order.status, order.filled, order.price_avg, order.u_time = "filled", done, price, now_ms()
        self._record_fill(acc, order, done, price, taker=taker)
        if not order.reduce and (order.preset_tp or order.preset_sl):
            self._attach_presets(acc, order)

    def _increase(self: Exchange, acc: Account, order: Order, size: Decimal, price: Decimal,
                  rate: Decimal) -> None:
        key = (order.symbol, order.hold_side)
        pos = acc.positions.get(key)
        now = now_ms()
        if pos is None:
            pos = acc.positions[key] = Position(
                symbol=order.symbol, hold_side=order.hold_side, size=ZERO, entry=price,
                margin_mode=order.margin_mode, leverage=order.leverage, margin=ZERO, c_time=now, u_time=now)
        pos.entry = money((pos.entry * pos.size + price * size) / (pos.size + size))
        pos.size += size
        pos.margin += money(size * price / pos.leverage)
        fee = money(size * price * rate)
        acc.balance -= fee
        pos.fees += fee
        order.fee += fee
        pos.u_time = now

    def _reduce(self: Exchange, acc: Account, order: Order, side: str, size: Decimal, price: Decimal,
                rate: Decimal) -> Decimal:
        """Close up to `size` of a position side; returns the size actually closed."""
        pos = acc.positions.get((order.symbol, side))
        if pos is None:
            return ZERO
        if order.order_type == "market":
            free = pos.size - self._locked(acc, order.symbol, side)
            if free <= 0:
                self._cancel_closes(acc, order.symbol, side, "replaced_by_market_close")
                free = pos.size
            size = min(size, free)
        size = min(size, pos.size)
        pnl = close_pnl(pos, size, price)
        fee = money(size * price * rate)
        release = pos.margin if size == pos.size else money(pos.margin * size / pos.size)
        pos.margin -= release
        pos.size -= size
        pos.achieved += pnl
        pos.u_time = now_ms()
        acc.balance += pnl - fee
        order.fee += fee
        order.profit += pnl
        if pos.size == 0:
            self._drop_position(acc, pos)
        return size

    def _drop_position(self: Exchange, acc: Account, pos: Position) -> None:
        """Remove a closed position with its TP/SL plans and its pending close orders."""
        del acc.positions[(pos.symbol, pos.hold_side)]
        for plan in [p for p in acc.plans.values() if p.symbol == pos.symbol and p.hold_side == pos.hold_side]:
            del acc.plans[plan.plan_id]
        self._cancel_closes(acc, pos.symbol, pos.hold_side, "position_closed")

    def _cancel_closes(self: Exchange, acc: Account, symbol: str, side: str, reason: str) -> None:
        for order in list(acc.live_orders.values()):
            if order.symbol == symbol and order.reduce and order.hold_side == side:
                self._cancel(acc, order, reason)

    def _cancel(self: Exchange, acc: Account, order: Order, reason: str) -> None:
        order.status, order.reserved, order.cancel_reason, order.u_time = "canceled", ZERO, reason, now_ms()
        acc.live_orders.pop(order.order_id, None)

    def _locked(self: Exchange, acc: Account, symbol: str, side: str) -> Decimal:
        """Size of a position side reserved by resting close orders."""
        return sum((o.size for o in acc.live_orders.values()
                    if o.symbol == symbol and o.reduce and o.hold_side == side), ZERO)

    def _delegated(self: Exchange, acc: Account, symbol: str, side: str) -> Decimal:
        """Size of resting opening orders on a position side."""
        return sum((o.size for o in acc.live_orders.values()
                    if o.symbol == symbol and not o.reduce and o.hold_side == side), ZERO)

    def _trim_history(self: Exchange, acc: Account) -> None:
        """Keep memory bounded: forget the oldest finished orders (their clientOids stay claimed)."""
        excess = len(acc.orders) - HISTORY_KEEP
        if excess <= 0:
            return
        for order_id in list(islice(acc.orders, excess + len(acc.live_orders))):
            if excess <= 0:
                break
            if order_id not in acc.live_orders:
                del acc.orders[order_id]
                excess -= 1

    def cancel_order(self: Exchange, acc: Account, symbol: str, order_id: str = "", client_oid: str = "") -> Order:
        """Cancel a resting order by orderId (wins) or clientOid."""
        with self.lock:
            order = self.find_order(acc, order_id, client_oid)
            if order is None or order.symbol != symbol.upper():
                raise fail(ORDER_MISSING)
            if order.status != "live":
                raise fail(NO_ORDER_TO_CANCEL)
            self._cancel(acc, order, "normal_cancel")
            self._changed()
            return order

    def cancel_all_orders(self: Exchange, acc: Account, symbol: str = "") -> dict[str, Any]:
        """Cancel every resting order (of one symbol when given); TP/SL and trigger plans are not touched."""
        with self.lock:
            wanted = contract_for(symbol).symbol if symbol else ""
            done = []
            for order in sorted(acc.live_orders.values(), key=lambda o: int(o.order_id)):
                if not wanted or order.symbol == wanted:
                    self._cancel(acc, order, "normal_cancel")
                    done.append({"orderId": order.order_id, "clientOid": order.client_oid})
            self._changed()
            return {"successList": done, "failureList": []}

    def find_order(self: Exchange, acc: Account, order_id: str = "", client_oid: str = "") -> Order | None:
        """An order of this account by orderId (wins) or clientOid."""
        if order_id:
            return acc.orders.get(order_id)
        known = acc.oid_index.get(client_oid) if client_oid else None
        return acc.orders.get(known) if known else None

    def close_positions(self: Exchange, acc: Account, symbol: str | None = None,
                        hold_side: str | None = None, entry_point: str = "API") -> dict[str, Any]:
        """Flash close at the mark: every position, or one symbol, or (hedge) one side of it."""
        with self.lock:
            if symbol:
                contract_for(symbol)
            targets = [p for p in acc.positions.values()
                       if (not symbol or p.symbol == symbol.upper())
                       and (not hold_side or acc.pos_mode != HEDGE or p.hold_side == hold_side)]
            if not targets:
                raise fail(NO_POSITION)
            done, failed = [], []
            for pos in sorted(targets, key=lambda p: (p.symbol, p.hold_side)):
                refused = self.symbol_status_error(pos.symbol, "close", entry_point)
                if refused is not None:
                    failed.append({"orderId": "", "clientOid": "", "symbol": pos.symbol, "errorMsg": refused.msg,
                                   "errorCode": refused.code})
                    continue
                order = self.force_close(acc, pos, "market", entry_point)
                done.append({"orderId": order.order_id, "clientOid": order.client_oid, "symbol": pos.symbol})
            self._changed()
            return {"successList": done, "failureList": failed, "result": False}

    def force_close(self: Exchange, acc: Account, pos: Position, source: str, entry_point: str = "API", *,
                    size: Decimal | None = None, limit_price: Decimal | None = None) -> Order:
        """Close a position (whole by default) at the mark, or with a limit order at limit_price."""
        if size is None or size >= pos.size:
            self._cancel_closes(acc, pos.symbol, pos.hold_side, "position_closed")
        hedge = acc.pos_mode == HEDGE
        side = "buy" if (pos.hold_side == "long") == hedge else "sell"
        req = OrderRequest(symbol=pos.symbol, size=min(size or pos.size, pos.size), side=side,
                           order_type="limit" if limit_price else "market", margin_mode=pos.margin_mode,
                           trade_side="close" if hedge else "", reduce_only=not hedge, price=limit_price,
                           entry_point=entry_point)
        order = self._new_order(acc, req, pos.hold_side, True)
        order.source = source
        if limit_price:
            self._submit_limit(acc, order, self.prices.prices[pos.symbol])
        else:
            self._execute(acc, order, self.prices.prices[pos.symbol], taker=True)
        return order
