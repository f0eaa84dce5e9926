"""Copy sizes: the sizing factor, targets on the contract's grid, minimums and caps (Decimal only)."""
from __future__ import annotations

from decimal import ROUND_CEILING, ROUND_UP, Decimal, localcontext

from app.bitget.models import Contract, Position
from app.engine.replication.state import (
    LEVERAGE_FIXED,
    SIZING_EQUITY_RATIO,
    SIZING_FIXED_MARGIN,
    SIZING_FIXED_NOTIONAL,
    SIZING_FIXED_QUANTITY,
    SIZING_MODES,
    SIZING_MULTIPLIER,
    ClientSettings,
)

ZERO = Decimal(0)
_FACTOR_QUANTUM = Decimal("1e-18")


def fmt_decimal(value: Decimal, places: int | None = None) -> str:
    """Render a Decimal for an operator: plain notation, no trailing zeros, at most `places` decimals."""
    exponent = value.as_tuple().exponent
    if places is not None and isinstance(exponent, int) and -exponent > places:
        value = value.quantize(Decimal(1).scaleb(-places))
    text = format(value.normalize(), "f")
    return "0" if text in ("-0", "") else text


def sizing_problem(
    settings: ClientSettings, master_equity: Decimal, client_equity: Decimal, mark: Decimal | None,
    symbol: str = "",
) -> str | None:
    """Why no sizing factor can be computed for a new copy on `symbol` (None when one can)."""
    mode = settings.sizing_mode
    if mode not in SIZING_MODES:
        return f"unknown sizing mode {mode!r}"
    if mode == SIZING_FIXED_QUANTITY:
        quantity = settings.fixed_quantity_for(symbol)
        if quantity is None:
            return f"{symbol} has no fixed quantity in this client's settings: not copied"
        if quantity <= 0:
            return f"the fixed quantity {fmt_decimal(quantity)} for {symbol} is not positive"
    elif settings.sizing_value <= 0:
        return f"sizing value {fmt_decimal(settings.sizing_value)} is not positive"
    if client_equity <= 0:
        return f"client equity is {fmt_decimal(client_equity)} USDT: cannot size a copy"
    if mode == SIZING_EQUITY_RATIO and master_equity <= 0:
        return f"master equity is {fmt_decimal(master_equity)} USDT: cannot compute the equity ratio"
    if mode in (SIZING_FIXED_MARGIN, SIZING_FIXED_NOTIONAL) and (mark is None or mark <= 0):
        return f"no mark price: cannot size a {mode.replace('_', '-')} copy"
    return None


def fixed_copy_size(settings: ClientSettings, symbol: str, mark: Decimal | None, leverage: int) -> Decimal | None:
    """The exact (unrounded) size of a new copy in a mode that fixes the copy's own size, else None."""
    mode = settings.sizing_mode
    if mode == SIZING_FIXED_QUANTITY:
        return settings.fixed_quantity_for(symbol)
    if mark is None or mark <= 0:
        return None
    if mode == SIZING_FIXED_NOTIONAL:
        return settings.sizing_value / mark
    if mode == SIZING_FIXED_MARGIN:
        # margin = notional / leverage, so sizing_value USDT of margin buys sizing_value * leverage / mark
        return settings.sizing_value * max(leverage, 1) / mark
    return None


def sizing_factor(
    settings: ClientSettings,
    master_equity: Decimal,
    client_equity: Decimal,
    master_position: Position,
    mark: Decimal | None,
    leverage: int,
    contract: Contract | None = None,
) -> Decimal | None:
    """Client size per unit of master size for a new copy (None when it cannot be sized).

    With the contract, a mode that fixes the copy's own size gets the factor that reproduces that size
    floored to the step exactly (0.01 / 0.03 x 0.03 must not floor to 0.009).
    """
    symbol = master_position.symbol
    if sizing_problem(settings, master_equity, client_equity, mark, symbol) or master_position.total <= 0:
        return None
    mode = settings.sizing_mode
    if mode == SIZING_MULTIPLIER:
        factor = settings.sizing_value
    elif mode == SIZING_EQUITY_RATIO:
        factor = client_equity / master_equity * settings.sizing_value
    else:
        exact = fixed_copy_size(settings, symbol, mark, leverage)
        assert exact is not None
        size = contract.round_size_down(exact) if contract is not None else ZERO
        if size > 0:
            assert contract is not None
            return link_factor_for(size, master_position.total, contract)
        factor = exact / master_position.total
    return factor if factor > 0 else None


def sizing_source(settings: ClientSettings, symbol: str, master_equity: Decimal, client_equity: Decimal,
                  mark: Decimal | None, leverage: int) -> str:
    """Which sizing setting produced a new copy's size, in words (for the preview)."""
    mode = settings.sizing_mode
    value = fmt_decimal(settings.sizing_value)
    if mode == SIZING_EQUITY_RATIO:
        return (f"sizing equity ratio: client {fmt_decimal(client_equity, 2)} / master "
                f"{fmt_decimal(master_equity, 2)} USDT x {value}")
    if mode == SIZING_MULTIPLIER:
        return f"sizing multiplier: {value} x the master's size"
    if mode == SIZING_FIXED_QUANTITY:
        quantity = settings.fixed_quantity_for(symbol)
        return f"sizing fixed quantity: {fmt_decimal(quantity) if quantity is not None else '-'} {symbol}"
    at_mark = f" at mark {fmt_decimal(mark)}" if mark is not None else ""
    if mode == SIZING_FIXED_NOTIONAL:
        return f"sizing fixed notional: {value} USDT{at_mark}"
    return f"sizing fixed margin: {value} USDT at {leverage}x{at_mark}"


def effective_leverage(master_leverage: int, settings: ClientSettings, contract: Contract) -> int:
    """The leverage of a new copy: the master's (or the client's fixed one), capped by max_leverage and maxLever."""
    wanted = master_leverage
    if settings.leverage_mode == LEVERAGE_FIXED and settings.fixed_leverage is not None:
        wanted = settings.fixed_leverage
    caps = [wanted, contract.max_lever]
    if settings.max_leverage is not None:
        caps.append(settings.max_leverage)
    return max(min(caps), contract.min_lever, 1)


def target_size(master_total: Decimal, factor: Decimal, contract: Contract) -> Decimal:
    """The client's size for a master size: master_total x factor floored to the size step."""
    return contract.round_size_down(master_total * factor)


def notional_cap_size(max_notional: Decimal, mark: Decimal, contract: Contract) -> Decimal:
    """The largest on-grid size whose notional at `mark` stays within max_notional."""
    return contract.round_size_down(max_notional / mark)


def margin_cap_size(max_margin: Decimal, leverage: int, mark: Decimal, contract: Contract) -> Decimal:
    """The largest on-grid size whose margin at `mark` and `leverage` stays within max_margin."""
    return contract.round_size_down(max_margin * max(leverage, 1) / mark)


def minimum_size(contract: Contract, mark: Decimal) -> Decimal:
    """The smallest on-grid size meeting both minTradeNum and minTradeUSDT at `mark`."""
    need = max(contract.min_trade_num, contract.min_trade_usdt / mark)
    step = contract.size_step
    return ((need / step).to_integral_value(rounding=ROUND_CEILING) * step).quantize(step)


def below_minimum_reason(size: Decimal, contract: Contract, mark: Decimal) -> str | None:
    """Why `size` cannot be ordered (below minTradeNum or minTradeUSDT), or None."""
    symbol = contract.symbol
    if size < contract.min_trade_num:
        return f"Size {fmt_decimal(size)} is below {symbol} minimum {fmt_decimal(contract.min_trade_num)}"
    notional = size * mark
    if notional < contract.min_trade_usdt:
        return (
            f"Size {fmt_decimal(size)} ({fmt_decimal(notional, 4)} USDT at mark {fmt_decimal(mark)}) is below "
            f"{symbol} minimum notional {fmt_decimal(contract.min_trade_usdt)} USDT"
        )
    return None


def link_factor_for(size: Decimal, master_total: Decimal, contract: Contract) -> Decimal:
    """A factor that reproduces `size` from master_total, so a capped or rounded-up copy stays in sync."""
    with localcontext() as ctx:
        ctx.prec = 60
        factor = (size / master_total).quantize(_FACTOR_QUANTUM, rounding=ROUND_UP)
        # the quantum is far below any size step, but check rather than trust it
        while target_size(master_total, factor, contract) < size:
            factor += _FACTOR_QUANTUM
    return factor


def split_size(size: Decimal, contract: Contract) -> list[Decimal]:
    """Split a market order into near-equal on-grid parts of at most maxMarketOrderQty (no tiny tail)."""
    chunk = contract.round_size_down(contract.max_market_order_qty)
    if chunk <= 0 or size <= chunk:
        return [size]
    step = contract.size_step
    count = int((size / chunk).to_integral_value(rounding=ROUND_CEILING))
    base = contract.round_size_down(size / count)
    extra_steps = int((size - base * count) / step)
    return [base + step if index < extra_steps else base for index in range(count)]


def is_adverse_move(hold_side: str, entry: Decimal, mark: Decimal, pct: Decimal) -> bool:
    """True when `mark` moved more than pct% against a new position of this side since `entry`."""
    if entry <= 0:
        return False
    if hold_side == "long":
        return mark > entry * (1 + pct / 100)
    return mark < entry * (1 - pct / 100)


def move_pct(entry: Decimal, mark: Decimal) -> Decimal:
    """Signed percentage move from entry to mark."""
    return (mark - entry) / entry * 100 if entry else ZERO
