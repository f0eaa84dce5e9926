"""The table of Bitget endpoints the simulator serves, and the parsed call a handler receives."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from .contracts import MARGIN_COIN
from .errors import param_error
from .numbers import to_decimal

if TYPE_CHECKING:
    from .exchange import Exchange
    from .state import Account


@dataclass
class Call:
    """One API call after authentication: the exchange, the caller's account and its parameters."""

    exchange: Exchange
    account: Account | None
    params: dict[str, Any]

    @property
    def acc(self) -> Account:
        """The authenticated account (private endpoints only)."""
        assert self.account is not None
        return self.account

    def text(self, name: str, required: bool = False, source: dict[str, Any] | None = None) -> str:
        """A parameter as a stripped string ('' when absent); 400172 when required and empty."""
        value = (self.params if source is None else source).get(name)
        text = "" if value is None else str(value).strip()
        if required and not text:
            raise param_error(f"{name} is required")
        return text

    def choice(self, name: str, options: tuple[str, ...], *, default: str = "", required: bool = False,
               source: dict[str, Any] | None = None) -> str:
        """A parameter restricted to a set of values (compared case-insensitively)."""
        raw = self.text(name, required, source)
        if not raw:
            return default
        for option in options:
            if raw.lower() == option.lower():
                return option
        raise param_error(f"{name} must be one of {', '.join(options)}")

    def decimal(self, name: str, required: bool = False, source: dict[str, Any] | None = None) -> Decimal | None:
        """A numeric parameter as a Decimal (None when absent); 400172 when malformed."""
        raw = self.text(name, required, source)
        if not raw:
            return None
        value = to_decimal(raw)
        if value is None:
            raise param_error(f"{name} must be a number")
        return value

    def integer(self, name: str, required: bool = False) -> int | None:
        """An integer parameter (None when absent)."""
        value = self.decimal(name, required)
        if value is None:
            return None
        if value != value.to_integral_value():
            raise param_error(f"{name} must be an integer")
        return int(value)

    def symbol(self, required: bool = True) -> str:
        """The symbol parameter, upper-cased."""
        return self.text("symbol", required).upper()

    def margin_coin(self, required: bool = True) -> None:
        """Check marginCoin is USDT (required unless stated)."""
        coin = self.text("marginCoin", required)
        if coin and coin.upper() != MARGIN_COIN:
            raise param_error("marginCoin must be USDT")


@dataclass(frozen=True)
class Route:
    """How one endpoint is served."""

    handler: Callable[[Call], Any]
    private: bool
    trading: bool
    product: bool


ROUTES: dict[tuple[str, str], Route] = {}


def endpoint(method: str, path: str, *, private: bool = True, trading: bool = False,
             product: bool = True) -> Callable[[Callable[[Call], Any]], Callable[[Call], Any]]:
    """Register a handler for METHOD path (private: signed; trading: needs a read/write key)."""
    def register(handler: Callable[[Call], Any]) -> Callable[[Call], Any]:
        ROUTES[(method, path)] = Route(handler, private, trading, product)
        return handler
    return register
