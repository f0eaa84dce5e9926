"""Per-symbol market state the operator can change: symbolStatus (close-only, maintenance, API-restricted...)."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .contracts import CONTRACTS, NORMAL, STATUS_RULES, contract_for, status_error
from .errors import SimError, param_error

if TYPE_CHECKING:
    from .exchange import Exchange


class MarketMixin:
    """symbolStatus per symbol (REFERENCE 6.2, 12.3): shown by contracts, enforced on orders and TP/SL."""

    def set_symbol_status(self: Exchange, symbol: str, status: str) -> dict[str, str]:
        """Set one symbol's symbolStatus (normal, listed, maintain, limit_open, restrictedAPI, off)."""
        if status not in STATUS_RULES:
            raise param_error(f"symbolStatus must be one of {', '.join(STATUS_RULES)}")
        with self.lock:
            spec = contract_for(symbol)
            if status == NORMAL:
                self.symbol_status.pop(spec.symbol, None)
            else:
                self.symbol_status[spec.symbol] = status
            self._changed()
            return {"symbol": spec.symbol, "symbolStatus": status}

    def symbol_statuses(self: Exchange) -> dict[str, str]:
        """Every symbol's symbolStatus."""
        with self.lock:
            return {symbol: self.symbol_status.get(symbol, NORMAL) for symbol in CONTRACTS}

    def contract_rows(self: Exchange, symbol: str = "") -> list[dict[str, Any]]:
        """Rows of GET mix/market/contracts with the current symbolStatus (one symbol, or all)."""
        with self.lock:
            specs = [contract_for(symbol)] if symbol else list(CONTRACTS.values())
            return [spec.wire(self.symbol_status.get(spec.symbol, NORMAL)) for spec in specs]

    def symbol_status_error(self: Exchange, symbol: str, action: str, entry_point: str = "API") -> SimError | None:
        """The error an order of kind action (open, close, tpsl) meets on this symbol now (None: allowed)."""
        return status_error(self.symbol_status.get(symbol.upper(), NORMAL), action, entry_point)

    def check_symbol_status(self: Exchange, symbol: str, action: str, entry_point: str = "API") -> None:
        """Raise the symbolStatus error for this kind of order, if any."""
        refused = self.symbol_status_error(symbol, action, entry_point)
        if refused is not None:
            raise refused
