"""Field-by-field validation of account input from forms, JSON and the CLI. Pure: dict in, clean dict out.

The source matters: a form only sends text (an empty field is "no limit", a checkbox is present or not), while
JSON has types, so there a flag is true or false and an optional number is a number or null, nothing else."""
from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from ..errors import ValidationError

SIZING_MODES = ("equity_ratio", "multiplier", "fixed_margin", "fixed_quantity", "fixed_notional")
LEVERAGE_MODES = ("follow", "fixed")
MARGIN_MODES = ("follow", "crossed", "isolated")
TPSL_MODES = ("follow", "own", "none")
LOSS_ACTIONS = ("close_only", "close_all_pause")
BELOW_MIN_RULES = ("skip", "round_up")
ROLES = ("master", "client")
CREDENTIAL_FIELDS = ("api_key", "api_secret", "passphrase")
_CREDENTIAL_RE = re.compile(r"^[\x21-\x7e]{1,256}$")
_SYMBOL_RE = re.compile(r"^[A-Z0-9]{2,30}$")
_MAX_DECIMAL_TEXT = 40

SOURCES = ("form", "json")
BOOL_FIELDS = ("demo", "enabled", "paused", "copy_existing", "reenter_after_external_close")
OPTIONAL_NUMBER_FIELDS = ("max_leverage", "max_notional", "max_open_positions", "daily_loss_limit",
                          "drawdown_limit_pct", "slippage_pct", "fixed_leverage", "tp_pct", "sl_pct", "max_margin")
MAX_FIXED_QUANTITIES = 200

_TRUE = {"1", "true", "yes", "on", "y"}
_FALSE = {"0", "false", "no", "off", "n", ""}


def parse_bool(value: Any, field: str) -> bool:
    """A JSON boolean or a form checkbox value."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise ValidationError(f"{label(field)} must be true or false.", field=field)


def parse_decimal(value: Any, field: str, *, low: Decimal, high: Decimal, low_inclusive: bool = False) -> Decimal:
    """A finite decimal inside (low, high]; JSON numbers or strings."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str, Decimal)):
        raise ValidationError(f"{label(field)} must be a number.", field=field)
    text = str(value).strip()
    if not text:
        raise ValidationError(f"{label(field)} is required.", field=field)
    if len(text) > _MAX_DECIMAL_TEXT:
        raise ValidationError(f"{label(field)} is too long to be a sensible number.", field=field)
    try:
        number = Decimal(text)
    except InvalidOperation:
        raise ValidationError(f"{label(field)} must be a number, not {text[:20]!r}.", field=field) from None
    if not number.is_finite():
        raise ValidationError(f"{label(field)} must be a finite number.", field=field)
    too_low = number < low if low_inclusive else number <= low
    if too_low or number > high:
        bound = f"at least {low}" if low_inclusive else f"greater than {low}"
        raise ValidationError(f"{label(field)} must be {bound} and at most {high}.", field=field)
    return number


def parse_int(value: Any, field: str, *, low: int, high: int) -> int:
    """A whole number in [low, high]."""
    number = parse_decimal(value, field, low=Decimal(low), high=Decimal(high), low_inclusive=True)
    if number != number.to_integral_value():
        raise ValidationError(f"{label(field)} must be a whole number.", field=field)
    return int(number)


def optional(parser: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap a parser so that None/'' mean 'no limit' (None)."""

    def parse(value: Any, field: str, **bounds: Any) -> Any:
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        return parser(value, field, **bounds)

    return parse


def parse_choice(value: Any, field: str, choices: tuple[str, ...]) -> str:
    """One of a fixed set of strings."""
    if not isinstance(value, str) or value.strip() not in choices:
        raise ValidationError(f"{label(field)} must be one of: {', '.join(choices)}.", field=field)
    return value.strip()


def parse_strict_bool(value: Any, field: str) -> bool:
    """A JSON boolean and nothing else ("yes", 1, "" and null are refused, not guessed)."""
    if not isinstance(value, bool):
        raise ValidationError(f"{label(field)} must be true or false (a JSON boolean).", field=field)
    return value


def has_surrogates(text: str) -> bool:
    """True when the text holds a lone UTF-16 surrogate (valid in a Python str and in JSON escapes, not in UTF-8)."""
    return any(0xD800 <= ord(ch) <= 0xDFFF for ch in text)


def parse_name(value: Any, field: str = "name") -> str:
    """An account name: 1-64 printable characters."""
    if not isinstance(value, str) or not value.strip():
        raise ValidationError("Name is required.", field=field)
    name = value.strip()
    if len(name) > 64:
        raise ValidationError("Name must be at most 64 characters.", field=field)
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in name):
        raise ValidationError("Name must not contain control characters.", field=field)
    if has_surrogates(name):
        raise ValidationError("Name must be valid Unicode text (it holds a lone surrogate code point).", field=field)
    return name


def parse_credential(value: Any, field: str) -> str:
    """An API key, secret or passphrase: 1-256 visible ASCII characters, no spaces."""
    if not isinstance(value, str) or not _CREDENTIAL_RE.match(value.strip()):
        raise ValidationError(
            f"{label(field)} must be 1-256 visible ASCII characters without spaces.", field=field
        )
    return value.strip()


def parse_symbols(value: Any, field: str = "allowed_symbols") -> str:
    """A list or comma-separated string of symbols -> canonical 'BTCUSDT,ETHUSDT' ('' = all)."""
    if value is None:
        return ""
    items = value if isinstance(value, list) else str(value).replace(" ", ",").split(",") if isinstance(value, str) else None
    if items is None:
        raise ValidationError("Allowed symbols must be a list like BTCUSDT, ETHUSDT.", field=field)
    symbols: list[str] = []
    for item in items:
        if not isinstance(item, str):
            raise ValidationError("Allowed symbols must be text like BTCUSDT.", field=field)
        symbol = item.strip().upper()
        if not symbol:
            continue
        if not _SYMBOL_RE.match(symbol):
            raise ValidationError(f"{item[:30]!r} is not a symbol like BTCUSDT.", field=field)
        if symbol not in symbols:
            symbols.append(symbol)
    if len(symbols) > 200:
        raise ValidationError("At most 200 allowed symbols.", field=field)
    return ",".join(symbols)


def parse_quantities(value: Any, field: str = "fixed_quantities") -> dict[str, Decimal]:
    """Symbol -> base-coin size: a JSON object, or form text like "BTCUSDT=0.01, ETHUSDT=0.5" (blank/null = none)."""
    if value is None:
        return {}
    if isinstance(value, str):
        pairs = []
        for item in value.replace("\n", ",").replace(";", ",").split(","):
            if not item.strip():
                continue
            symbol, sep, size = item.replace(":", "=").partition("=")
            if not sep:
                raise ValidationError(f"Fixed quantities: write SYMBOL=SIZE, e.g. BTCUSDT=0.01 (not {item.strip()[:30]!r}).",
                                      field=field)
            pairs.append((symbol, size.strip()))
    elif isinstance(value, Mapping):
        pairs = list(value.items())
    else:
        raise ValidationError('Fixed quantities must be an object like {"BTCUSDT": "0.01"}.', field=field)
    if len(pairs) > MAX_FIXED_QUANTITIES:
        raise ValidationError(f"At most {MAX_FIXED_QUANTITIES} fixed quantities.", field=field)
    quantities: dict[str, Decimal] = {}
    for symbol, size in pairs:
        name = symbol.strip().upper() if isinstance(symbol, str) else ""
        if not _SYMBOL_RE.match(name):
            raise ValidationError(f"Fixed quantities: {str(symbol)[:30]!r} is not a symbol like BTCUSDT.", field=field)
        try:
            quantities[name] = parse_decimal(size, field, low=Decimal(0), high=BIG)
        except ValidationError as exc:
            detail = exc.message.replace(label(field), "the size", 1)
            raise ValidationError(f"Fixed quantities, {name}: {detail}", field=field) from None
    return quantities


BIG = Decimal("1000000000")
FIELD_PARSERS: dict[str, Callable[[Any, str], Any]] = {
    "role": lambda v, f: parse_choice(v, f, ROLES),
    "name": parse_name,
    "api_key": parse_credential,
    "api_secret": parse_credential,
    "passphrase": parse_credential,
    "demo": parse_bool,
    "enabled": parse_bool,
    "paused": parse_bool,
    "copy_existing": parse_bool,
    "reenter_after_external_close": parse_bool,
    "sizing_mode": lambda v, f: parse_choice(v, f, SIZING_MODES),
    "fixed_quantities": parse_quantities,
    "leverage_mode": lambda v, f: parse_choice(v, f, LEVERAGE_MODES),
    "fixed_leverage": lambda v, f: optional(parse_int)(v, f, low=1, high=125),
    "margin_mode": lambda v, f: parse_choice(v, f, MARGIN_MODES),
    "tpsl_mode": lambda v, f: parse_choice(v, f, TPSL_MODES),
    "tp_pct": lambda v, f: optional(parse_decimal)(v, f, low=Decimal(0), high=Decimal(1000), low_inclusive=True),
    "sl_pct": lambda v, f: optional(parse_decimal)(v, f, low=Decimal(0), high=Decimal(99), low_inclusive=True),
    "max_margin": lambda v, f: optional(parse_decimal)(v, f, low=Decimal(0), high=BIG),
    "sizing_value": lambda v, f: parse_decimal(v, f, low=Decimal(0), high=BIG),
    "max_leverage": lambda v, f: optional(parse_int)(v, f, low=1, high=125),
    "max_notional": lambda v, f: optional(parse_decimal)(v, f, low=Decimal(0), high=BIG),
    "max_open_positions": lambda v, f: optional(parse_int)(v, f, low=1, high=1000),
    "allowed_symbols": parse_symbols,
    "daily_loss_limit": lambda v, f: optional(parse_decimal)(v, f, low=Decimal(0), high=BIG),
    "drawdown_limit_pct": lambda v, f: optional(parse_decimal)(v, f, low=Decimal(0), high=Decimal(100)),
    "loss_action": lambda v, f: parse_choice(v, f, LOSS_ACTIONS),
    "slippage_pct": lambda v, f: optional(parse_decimal)(v, f, low=Decimal(0), high=Decimal(100)),
    "below_min_rule": lambda v, f: parse_choice(v, f, BELOW_MIN_RULES),
    "round_up_max_factor": lambda v, f: parse_decimal(v, f, low=Decimal(1), high=Decimal(100), low_inclusive=True),
}
LABELS = {
    "api_key": "API key", "api_secret": "API secret", "passphrase": "Passphrase", "sizing_value": "Sizing value",
    "max_leverage": "Max leverage", "max_notional": "Max notional (USDT)", "max_open_positions": "Max open positions",
    "daily_loss_limit": "Daily loss limit (USDT)", "drawdown_limit_pct": "Drawdown limit (%)",
    "slippage_pct": "Entry slippage guard (%)", "round_up_max_factor": "Round-up max factor",
    "copy_existing": "Copy existing positions",
    "reenter_after_external_close": "Re-enter after an external close", "below_min_rule": "Below-minimum rule",
    "leverage_mode": "Leverage", "fixed_leverage": "Fixed leverage", "margin_mode": "Margin mode",
    "tpsl_mode": "TP/SL", "tp_pct": "Own take-profit (%)", "sl_pct": "Own stop-loss (%)",
    "fixed_quantities": "Fixed quantities", "max_margin": "Max margin per position (USDT)",
}


def label(field: str) -> str:
    """Human name of a field."""
    return LABELS.get(field, field.replace("_", " ").capitalize())


def json_strictness(field: str, value: Any) -> None:
    """The JSON-only rules: flags are booleans; an optional number is a number or null, never blank text."""
    if field in BOOL_FIELDS:
        parse_strict_bool(value, field)
    elif field in OPTIONAL_NUMBER_FIELDS and isinstance(value, str) and not value.strip():
        raise ValidationError(f"{label(field)} must be a number, or null for no limit (not blank text).", field=field)
    elif field == "fixed_quantities" and value is not None and not isinstance(value, Mapping):
        raise ValidationError('Fixed quantities must be an object like {"BTCUSDT": "0.01"}, or null.', field=field)


def clean_account_input(data: Mapping[str, Any], *, creating: bool, source: str = "form") -> dict[str, Any]:
    """Validate every given field; on create require role, name and credentials. Raises ValidationError.

    `source` is "json" for API bodies (strict types) or "form" for form fields, the CLI and Python callers.
    """
    if source not in SOURCES:
        raise ValueError(f"unknown input source {source!r}")
    if not isinstance(data, Mapping):
        raise ValidationError("Expected a JSON object.")
    unknown = sorted(str(k) for k in data if k not in FIELD_PARSERS)
    if unknown:
        raise ValidationError(f"Unknown field {unknown[0][:40]!r}.", field=unknown[0][:40])
    clean: dict[str, Any] = {}
    for field, parser in FIELD_PARSERS.items():
        if field not in data:
            continue
        value = data[field]
        if field in CREDENTIAL_FIELDS and not creating and (value is None or value == ""):
            continue  # write-only: blank on edit keeps the stored value
        if source == "json":
            json_strictness(field, value)
        clean[field] = parser(value, field)
    if creating:
        for field in ("role", "name", *CREDENTIAL_FIELDS):
            if field not in clean:
                raise ValidationError(f"{label(field)} is required.", field=field)
    return clean


def check_follower_settings(settings: Mapping[str, Any]) -> None:
    """The rules between fields, on the settings an account would have after a change (ValidationError if broken)."""
    if settings.get("leverage_mode") == "fixed" and settings.get("fixed_leverage") is None:
        raise ValidationError("Fixed leverage (1-125) is required when the leverage is fixed.", field="fixed_leverage")
    if settings.get("tpsl_mode") == "own" and not (settings.get("tp_pct") or settings.get("sl_pct")):
        raise ValidationError("Own TP/SL needs a take-profit % or a stop-loss % (or both).", field="tp_pct")
    if settings.get("sizing_mode") == "fixed_quantity" and not settings.get("fixed_quantities"):
        raise ValidationError("Fixed quantity sizing needs at least one SYMBOL=SIZE entry.", field="fixed_quantities")
