"""Leverage, margin mode and position mode changes as an Exchange mixin."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .contracts import MARGIN_COIN, contract_for
from .errors import LEVERAGE_MARGIN, LEVERAGE_TOO_HIGH, MARGIN_MODE_LOCKED, POS_MODE_LOCKED, fail, param_error
from .margin import free_margin
from .numbers import ZERO, money, now_ms
from .state import CROSSED, HEDGE, ISOLATED, ONE_WAY, Account, SymbolSettings

if TYPE_CHECKING:
    from .exchange import Exchange


def leverage_reply(symbol: str, s: SymbolSettings, with_cross: bool = True) -> dict[str, Any]:
    """The data of set-leverage / set-margin-mode (effective long/short leverage)."""
    crossed = s.margin_mode == CROSSED
    row: dict[str, Any] = {
        "symbol": symbol, "marginCoin": MARGIN_COIN,
        "longLeverage": str(s.cross_leverage if crossed else s.long_leverage),
        "shortLeverage": str(s.cross_leverage if crossed else s.short_leverage),
    }
    if with_cross:
        row["crossMarginLeverage"] = str(s.cross_leverage)
    row["marginMode"] = s.margin_mode
    return row


class SettingsMixin:
    """set-leverage, set-margin-mode, set-position-mode."""

    def set_leverage(self: Exchange, acc: Account, symbol: str, leverage: int | None = None, *,
                     long_leverage: int | None = None, short_leverage: int | None = None,
                     hold_side: str = "") -> dict[str, Any]:
        """Set a symbol's leverage (cross, or isolated per side) and re-margin its open positions."""
        with self.lock:
            spec = contract_for(symbol)
            given = [v for v in (leverage, long_leverage, short_leverage) if v is not None]
            if not given:
                raise param_error("leverage is required")
            for value in given:
                if value < 1:
                    raise param_error("leverage must be at least 1")
                if value > spec.max_lever:
                    raise fail(LEVERAGE_TOO_HIGH)
            current = acc.symbol_settings(spec.symbol)
            new = SymbolSettings(**vars(current))
            if current.margin_mode == CROSSED:
                new.cross_leverage = leverage if leverage is not None else given[0]
            elif acc.pos_mode == HEDGE and (long_leverage is not None or short_leverage is not None):
                new.long_leverage = long_leverage or new.long_leverage
                new.short_leverage = short_leverage or new.short_leverage
            elif acc.pos_mode == HEDGE and hold_side in ("long", "short"):
                setattr(new, f"{hold_side}_leverage", leverage)
            else:
                new.long_leverage = new.short_leverage = leverage if leverage is not None else given[0]
            self._remargin(acc, spec.symbol, new)
            acc.settings[spec.symbol] = new
            self._changed()
            return leverage_reply(spec.symbol, new)

    def _remargin(self: Exchange, acc: Account, symbol: str, new: SymbolSettings) -> None:
        """Apply new leverages to the symbol's positions; 40893 when the extra margin is not there."""
        changes = []
        extra = ZERO
        for pos in acc.positions.values():
            if pos.symbol != symbol:
                continue
            lev = new.leverage_for(pos.hold_side, pos.margin_mode)
            margin = money(pos.size * pos.entry / lev)
            extra += max(ZERO, margin - pos.margin)
            changes.append((pos, lev, margin))
        if extra > 0 and extra > free_margin(acc, self.prices.prices):
            raise fail(LEVERAGE_MARGIN)
        for pos, lev, margin in changes:
            pos.leverage, pos.margin, pos.u_time = lev, margin, now_ms()

    def set_margin_mode(self: Exchange, acc: Account, symbol: str, margin_mode: str) -> dict[str, Any]:
        """Switch a symbol between crossed and isolated (only while it has no position or order)."""
        if margin_mode not in (CROSSED, ISOLATED):
            raise param_error("marginMode must be isolated or crossed")
        with self.lock:
            spec = contract_for(symbol)
            settings = acc.symbol_settings(spec.symbol)
            if settings.margin_mode != margin_mode:
                busy = any(p.symbol == spec.symbol for p in acc.positions.values()) or any(
                    o.symbol == spec.symbol for o in acc.live_orders.values())
                if busy:
                    raise fail(MARGIN_MODE_LOCKED)
                settings.margin_mode = margin_mode
                self._changed()
            return leverage_reply(spec.symbol, settings, with_cross=False)

    def set_position_mode(self: Exchange, acc: Account, pos_mode: str) -> dict[str, Any]:
        """Switch hedge_mode / one_way_mode (only while the account holds no position or order)."""
        with self.lock:
            self._set_position_mode(acc, pos_mode)
            self._changed()
            return {"posMode": acc.pos_mode}

    def _set_position_mode(self: Exchange, acc: Account, pos_mode: str) -> None:
        if pos_mode not in (HEDGE, ONE_WAY):
            raise param_error("posMode must be one_way_mode or hedge_mode")
        if pos_mode != acc.pos_mode:
            if acc.positions or acc.live_orders:
                raise fail(POS_MODE_LOCKED)
            acc.pos_mode = pos_mode
