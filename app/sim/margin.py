"""Pure margin arithmetic: unrealised PnL, account equity and availability, liquidation estimates."""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from .contracts import CONTRACTS
from .numbers import ZERO, money
from .state import CROSSED, Account, Position


def unrealized(pos: Position, mark: Decimal) -> Decimal:
    """Unrealised PnL of a position at a mark price."""
    diff = mark - pos.entry if pos.hold_side == "long" else pos.entry - mark
    return money(diff * pos.size)


def close_pnl(pos: Position, size: Decimal, price: Decimal) -> Decimal:
    """Realised PnL of closing `size` of a position at `price`."""
    diff = price - pos.entry if pos.hold_side == "long" else pos.entry - price
    return money(diff * size)


@dataclass(frozen=True)
class Metrics:
    """An account's balance sheet at the current marks."""

    balance: Decimal
    equity: Decimal
    available: Decimal
    frozen: Decimal
    crossed_margin: Decimal
    isolated_margin: Decimal
    crossed_upnl: Decimal
    isolated_upnl: Decimal
    maintenance: Decimal

    @property
    def upnl(self) -> Decimal:
        """Total unrealised PnL."""
        return self.crossed_upnl + self.isolated_upnl

    @property
    def crossed_risk_rate(self) -> Decimal:
        """Maintenance margin of crossed positions over the equity that backs them."""
        backing = self.equity - self.isolated_margin - self.isolated_upnl
        if self.maintenance == 0 or backing <= 0:
            return ZERO
        return (self.maintenance / backing).quantize(Decimal("0.000000000001"))


def metrics(acc: Account, marks: dict[str, Decimal]) -> Metrics:
    """Compute an account's equity, margins and available balance."""
    sums = {"cm": ZERO, "im": ZERO, "cu": ZERO, "iu": ZERO, "mm": ZERO}
    for pos in acc.positions.values():
        mark = marks[pos.symbol]
        pnl = unrealized(pos, mark)
        crossed = pos.margin_mode == CROSSED
        sums["cm" if crossed else "im"] += pos.margin
        sums["cu" if crossed else "iu"] += pnl
        if crossed:
            sums["mm"] += pos.size * mark * CONTRACTS[pos.symbol].keep_margin_rate
    frozen = sum((o.reserved for o in acc.live_orders.values()), ZERO)
    free = acc.balance - sums["cm"] - sums["im"] - frozen + min(ZERO, sums["cu"])
    return Metrics(
        balance=acc.balance, equity=acc.balance + sums["cu"] + sums["iu"], available=money(max(ZERO, free)),
        frozen=frozen, crossed_margin=sums["cm"], isolated_margin=sums["im"], crossed_upnl=sums["cu"],
        isolated_upnl=sums["iu"], maintenance=money(sums["mm"]),
    )


def free_margin(acc: Account, marks: dict[str, Decimal]) -> Decimal:
    """Balance still free to back a new position or order (may be negative)."""
    m = metrics(acc, marks)
    return acc.balance - m.crossed_margin - m.isolated_margin - m.frozen + min(ZERO, m.crossed_upnl)


def liquidation_price(pos: Position, cushion: Decimal) -> Decimal:
    """Estimated mark at which the position's loss eats its margin plus cushion down to maintenance."""
    rate = CONTRACTS[pos.symbol].keep_margin_rate
    backing = pos.margin + max(ZERO, cushion)
    if pos.hold_side == "long":
        liq = (pos.entry * pos.size - backing) / (pos.size * (1 - rate))
    else:
        liq = (pos.entry * pos.size + backing) / (pos.size * (1 + rate))
    return max(ZERO, liq)


def margin_ratio(pos: Position, mark: Decimal, cushion: Decimal) -> Decimal:
    """Maintenance margin over the margin (plus cushion) and PnL that back the position."""
    maintenance = pos.size * mark * CONTRACTS[pos.symbol].keep_margin_rate
    backing = pos.margin + max(ZERO, cushion) + unrealized(pos, mark)
    if backing <= 0:
        return Decimal("1")
    return (maintenance / backing).quantize(Decimal("0.000000000001"))
