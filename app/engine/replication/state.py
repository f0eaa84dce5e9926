"""What the planner reads: the master's and each client's state, the client's settings and links."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from app.bitget.models import Position, SymbolAccount

# Operation kinds
OP_SET_MARGIN_MODE = "set_margin_mode"
OP_SET_LEVERAGE = "set_leverage"
OP_OPEN = "open"
OP_CLOSE = "close"
OP_PLACE_TPSL = "place_tpsl"
OP_MODIFY_TPSL = "modify_tpsl"
OP_CANCEL_TPSL = "cancel_tpsl"
OPERATION_KINDS = (
    OP_SET_MARGIN_MODE,
    OP_SET_LEVERAGE,
    OP_OPEN,
    OP_CLOSE,
    OP_PLACE_TPSL,
    OP_MODIFY_TPSL,
    OP_CANCEL_TPSL,
)
TPSL_KINDS = (OP_PLACE_TPSL, OP_MODIFY_TPSL, OP_CANCEL_TPSL)

# Link changes
LINK_CREATE = "create"
LINK_DELETE = "delete"
LINK_END = "end"  # the copy was closed outside the copier: keep the record so it is not re-opened
LINK_CONFIRM = "confirm"  # a link written before its open turns out to hold a position
LINK_PARK = "park"  # the copier closed the copy because its target rounds to nothing; it may grow back
LINK_SNAPSHOT = "snapshot"  # the copy reached its target: remember the master's size and entry it mirrors

# Sizing modes
SIZING_EQUITY_RATIO = "equity_ratio"
SIZING_MULTIPLIER = "multiplier"
SIZING_FIXED_MARGIN = "fixed_margin"
SIZING_FIXED_QUANTITY = "fixed_quantity"  # a base-coin size per symbol
SIZING_FIXED_NOTIONAL = "fixed_notional"  # sizing_value USDT of notional at the mark
SIZING_MODES = (SIZING_EQUITY_RATIO, SIZING_MULTIPLIER, SIZING_FIXED_MARGIN, SIZING_FIXED_QUANTITY,
                SIZING_FIXED_NOTIONAL)

# Follower choices for how a new copy is opened (frozen on the copy once it is open)
FOLLOW = "follow"  # do as the master
LEVERAGE_FIXED = "fixed"
LEVERAGE_MODES = (FOLLOW, LEVERAGE_FIXED)
MARGIN_MODES = (FOLLOW, "crossed", "isolated")
TPSL_OWN = "own"  # percentages of the client's own average entry
TPSL_NONE = "none"  # the copier places and changes no TP/SL
TPSL_MODES = (FOLLOW, TPSL_OWN, TPSL_NONE)

# What to do when a size is below the contract minimum
BELOW_MIN_SKIP = "skip"
BELOW_MIN_ROUND_UP = "round_up"

# Position modes and sides
HEDGE_MODE = "hedge_mode"
ONE_WAY_MODE = "one_way_mode"
LONG = "long"
SHORT = "short"
SIDES = (LONG, SHORT)

# TP/SL plan types (position-level: they follow later size changes)
PLAN_TAKE_PROFIT = "pos_profit"
PLAN_STOP_LOSS = "pos_loss"


def other_side(hold_side: str) -> str:
    """The opposite position side."""
    return SHORT if hold_side == LONG else LONG


@dataclass(frozen=True)
class ClientSettings:
    """One client's copy rules and risk limits."""

    sizing_mode: str = SIZING_EQUITY_RATIO
    sizing_value: Decimal = Decimal(1)
    max_leverage: int | None = None
    max_notional: Decimal | None = None
    max_open_positions: int | None = None
    allowed_symbols: frozenset[str] = frozenset()
    paused: bool = False
    slippage_pct: Decimal | None = Decimal("0.5")
    below_min_rule: str = BELOW_MIN_SKIP
    round_up_max_factor: Decimal = Decimal(2)
    copy_existing: bool = False
    reenter_after_external_close: bool = False
    leverage_mode: str = FOLLOW
    fixed_leverage: int | None = None
    margin_mode: str = FOLLOW
    tpsl_mode: str = FOLLOW
    tp_pct: Decimal | None = None
    sl_pct: Decimal | None = None
    fixed_quantities: tuple[tuple[str, Decimal], ...] = ()  # (symbol, base-coin size), for fixed_quantity
    max_margin: Decimal | None = None

    def fixed_quantity_for(self, symbol: str) -> Decimal | None:
        """The fixed base-coin size set for a symbol (None: the symbol has no entry)."""
        return next((size for sym, size in self.fixed_quantities if sym == symbol), None)

    def allows(self, symbol: str) -> bool:
        """True when the symbol may be opened or increased (an empty allow-list allows all)."""
        return not self.allowed_symbols or symbol in self.allowed_symbols


@dataclass(frozen=True)
class Link:
    """A client position copied from the master position with the same (symbol, hold_side)."""

    symbol: str
    hold_side: str
    factor: Decimal
    created_ms: int = 0
    generation: int = 0
    opened: bool = True  # False: written before its open, which has not been acknowledged
    ended_ms: int | None = None  # the copy was closed outside the copier at this time
    master_opened_ms: int | None = None
    master_size: Decimal | None = None  # the master's size and entry when the copy last reached its target
    master_entry: Decimal | None = None
    tp_order_id: str | None = None  # the TP/SL plans the copier placed itself
    sl_order_id: str | None = None
    tpsl_mode: str = FOLLOW  # the client's TP/SL choice when the copy was opened (kept while it is open)
    tp_pct: Decimal | None = None
    sl_pct: Decimal | None = None

    @property
    def key(self) -> tuple[str, str]:
        """(symbol, hold_side), as Position.key."""
        return (self.symbol, self.hold_side)


@dataclass(frozen=True)
class SymbolSettings:
    """The margin mode and leverages a client account has for one symbol."""

    margin_mode: str
    long_leverage: int
    short_leverage: int

    def leverage_for(self, hold_side: str) -> int:
        """The leverage a position on this side would get."""
        return self.long_leverage if hold_side == LONG else self.short_leverage

    @classmethod
    def read_from(cls, info: SymbolAccount) -> SymbolSettings:
        """What a per-symbol account read says the account has for that symbol."""
        return cls(info.margin_mode, info.leverage_for(info.margin_mode, "long"),
                   info.leverage_for(info.margin_mode, "short"))


@dataclass(frozen=True)
class MasterState:
    """The master account: futures equity and open positions."""

    equity: Decimal
    positions: tuple[Position, ...]


@dataclass(frozen=True)
class ClientState:
    """One client account as the planner sees it."""

    account_id: int
    name: str
    equity: Decimal
    pos_mode: str
    positions: tuple[Position, ...]
    settings: ClientSettings = field(default_factory=ClientSettings)
    links: tuple[Link, ...] = ()
    symbol_settings: Mapping[str, SymbolSettings] = field(default_factory=dict)
    following_since_ms: int | None = None
    open_block_reason: str | None = None
    now_ms: int = 0  # when the state was read (for "closed outside the copier at HH:MM")

    @property
    def one_way(self) -> bool:
        """True when the account is in one-way position mode."""
        return self.pos_mode == ONE_WAY_MODE
