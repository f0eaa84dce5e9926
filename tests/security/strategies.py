"""Hypothesis strategies for hostile input: random JSON, huge numbers, unicode, and values that are wrong for
one field whatever the rest of the request says (so the whole request must be refused)."""
from __future__ import annotations

import json
import string

from hypothesis import strategies as st

# the account fields the API and the forms know (tests/web covers each one's rules; here they are the schema)
STRING_CHOICES = {
    "role": ("master", "client"),
    "sizing_mode": ("equity_ratio", "multiplier", "fixed_margin", "fixed_quantity", "fixed_notional"),
    "leverage_mode": ("follow", "fixed"),
    "margin_mode": ("follow", "crossed", "isolated"),
    "tpsl_mode": ("follow", "own", "none"),
    "loss_action": ("close_only", "close_all_pause"),
    "below_min_rule": ("skip", "round_up"),
}
CREDENTIALS = ("api_key", "api_secret", "passphrase")
BOOLS = ("demo", "enabled", "paused", "copy_existing")
REQUIRED_NUMBERS = ("sizing_value", "round_up_max_factor")
OPTIONAL_NUMBERS = ("max_leverage", "max_notional", "max_open_positions", "daily_loss_limit", "drawdown_limit_pct",
                    "slippage_pct", "fixed_leverage", "tp_pct", "sl_pct", "max_margin")
NUMBERS = REQUIRED_NUMBERS + OPTIONAL_NUMBERS
KNOWN = ("name", "allowed_symbols", "fixed_quantities", *STRING_CHOICES, *CREDENTIALS, *BOOLS, *NUMBERS)
BAD_QUANTITY_TEXT = ["BTCUSDT", "BTC-USDT=1", "BTCUSDT=-1", "BTCUSDT=abc", "BTCUSDT=0", "=1", "💥=1",
                     "BTCUSDT=1e400", "BTCUSDT=NaN"]
FLAGS = ("verify",)  # not a field: a JSON account write's "check the keys first" switch

TRICKY_TEXT = ["", " ", "0", "-1", "1e400", "-1e400", "NaN", "Infinity", "1_000", "0x10", "１２", "٣", "²", "\x00",
               "\u202e", "💥", "BTCUSDT", "btcusdt,ethusdt", "true", "null", "<script>alert(1)</script>",
               "' OR 1=1 --", "x" * 300, "9" * 60, "master", "client", "../../etc/passwd", "%00", "\r\nX-Evil: 1"]
# valid in a Python str and as a JSON escape, impossible in UTF-8 (so never in a form: browsers replace them)
LONE_SURROGATES = ["\ud800", "a\udfffb", "\udc00\ud800", "Alice\udbff"]

huge_ints = st.integers(min_value=10**10, max_value=10**400) | st.integers(min_value=-(10**400), max_value=-1)
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(10**6), max_value=10**6), huge_ints,
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=30), st.sampled_from(TRICKY_TEXT),
    st.sampled_from(LONE_SURROGATES),
)
json_values = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)
non_strings = st.one_of(st.booleans(), st.integers(), st.floats(allow_nan=True, allow_infinity=True),
                        st.lists(scalars, max_size=3), st.dictionaries(st.text(max_size=5), scalars, max_size=2))
letters = st.text(alphabet=st.characters(categories=["Lu", "Ll", "Lo"]), min_size=1, max_size=20)
non_ascii = st.text(alphabet=st.characters(min_codepoint=128, exclude_categories=["Cs"]), min_size=1, max_size=20)
control = st.sampled_from([chr(c) for c in range(32)] + ["\x7f"])
unknown_keys = st.text(max_size=20).filter(lambda k: k not in KNOWN and k not in FLAGS)
json_unknown_keys = unknown_keys | st.sampled_from(LONE_SURROGATES)


def bad_json_value(field: str, *, creating: bool) -> st.SearchStrategy:
    """A JSON value no sane validator can accept for this field."""
    if field == "name":
        return st.one_of(non_strings, st.none(), st.sampled_from(["", "   ", "x" * 65, *LONE_SURROGATES]),
                         st.builds(lambda a, c, b: f"{a}{c}{b}", st.text(max_size=5), control, st.text(max_size=5))
                         .filter(lambda s: s.strip() and any(ord(ch) < 32 or ord(ch) == 127 for ch in s.strip())))
    if field in STRING_CHOICES:
        choices = STRING_CHOICES[field]
        return st.one_of(non_strings, st.none(), st.text(max_size=20).filter(lambda s: s.strip() not in choices))
    if field in CREDENTIALS:
        options = [non_strings, non_ascii, st.just("has space"), st.just("k" * 257)]
        if creating:
            options += [st.none(), st.just("")]
        return st.one_of(*options)
    if field in BOOLS:  # JSON flags are booleans: the words a form would accept are refused too
        return st.one_of(st.none(), st.integers(), st.floats(), st.lists(scalars, max_size=2), letters,
                         st.sampled_from(["", "true", "false", "yes", "no", "on", "1", "0"]))
    if field in NUMBERS:
        options = [huge_ints, st.sampled_from([float("nan"), float("inf"), -5, "-5", "NaN", "1e400", "0x10"]),
                   st.booleans(), st.lists(scalars, max_size=2), st.dictionaries(st.text(max_size=3), scalars,
                                                                                max_size=2), letters]
        if field in REQUIRED_NUMBERS:
            options.append(st.none())
        options.append(st.sampled_from(["", " ", "\t"]))  # in JSON blank text is not "no limit"
        return st.one_of(*options)
    if field == "allowed_symbols":
        return st.one_of(st.booleans(), st.integers(), st.floats(), st.dictionaries(st.text(max_size=3), scalars),
                         st.lists(non_strings, min_size=1, max_size=2),
                         st.sampled_from(["BTC-USDT", "BTC/USDT", "💥", "x" * 31, "<b>", "BTC;DROP"]))
    if field == "fixed_quantities":  # an object of symbol -> positive size, or null
        return st.one_of(st.booleans(), st.integers(), st.floats(), st.text(max_size=20),
                         st.lists(scalars, max_size=2),
                         st.sampled_from([{"BTC-USDT": "1"}, {"BTCUSDT": "-1"}, {"BTCUSDT": "NaN"}, {"BTCUSDT": None},
                                          {"BTCUSDT": [1]}, {"BTCUSDT": True}, {"": "1"}, {"BTCUSDT": "0"}]))
    raise KeyError(field)


def bad_form_value(field: str, *, creating: bool) -> st.SearchStrategy:
    """A form (string) value no sane validator can accept for this field."""
    if field == "name":
        return st.one_of(st.sampled_from(["", "   ", "x" * 65]),
                         st.builds(lambda a, c, b: f"{a}{c}{b}", letters, control, letters))
    if field in STRING_CHOICES:
        choices = STRING_CHOICES[field]
        return st.text(max_size=20).filter(lambda s: s.strip() not in choices)
    if field in CREDENTIALS:
        return st.one_of(non_ascii, st.just("has space"), st.just("k" * 257), *( [st.just("")] if creating else []))
    if field in NUMBERS:
        options = [letters, st.sampled_from(["-5", "NaN", "1e400", "0x10", "9" * 45, "1,5"]),
                   huge_ints.map(str)]
        if field in REQUIRED_NUMBERS:
            options.append(st.just(""))
        return st.one_of(*options)
    if field == "allowed_symbols":
        return st.sampled_from(["BTC-USDT", "BTC/USDT", "💥", "x" * 31, "<b>", "BTC;DROP"])
    if field == "fixed_quantities":
        return st.sampled_from(BAD_QUANTITY_TEXT)
    raise KeyError(field)


def form_values() -> st.SearchStrategy:
    """Any form value: text, unicode, huge digit strings."""
    return st.one_of(st.text(max_size=30), st.sampled_from(TRICKY_TEXT), huge_ints.map(str))


@st.composite
def bad_account_json(draw, base: dict, *, creating: bool) -> dict:
    """A JSON account body with at least one thing wrong: a bad value, an unknown field, or a missing field."""
    body = dict(base)
    for key in draw(st.lists(st.sampled_from(KNOWN), max_size=3, unique=True)):
        body[key] = draw(json_values)  # random noise, valid or not
    kind = draw(st.sampled_from(["bad_value", "unknown_field", "missing_field"] if creating
                                else ["bad_value", "unknown_field"]))
    if kind == "bad_value":
        field = draw(st.sampled_from(KNOWN))
        body[field] = draw(bad_json_value(field, creating=creating))
    elif kind == "unknown_field":
        body[draw(json_unknown_keys)] = draw(json_values)
    else:
        body.pop(draw(st.sampled_from(("role", "name", *CREDENTIALS))), None)
    return body


@st.composite
def bad_account_form(draw, base: dict, *, creating: bool) -> dict:
    """A form with random extra fields and at least one field that cannot be valid."""
    form = dict(base)
    for key in draw(st.lists(st.sampled_from(KNOWN), max_size=3, unique=True)):
        form[key] = draw(form_values())
    for key in draw(st.lists(unknown_keys.filter(lambda k: k and k != "csrf_token"), max_size=2)):
        form[key] = draw(form_values())  # extra fields: a form ignores them
    field = draw(st.sampled_from([k for k in KNOWN if k not in BOOLS]))
    form[field] = draw(bad_form_value(field, creating=creating))
    return form


def encode(value) -> bytes:
    """JSON the way a careless client would send it (NaN and Infinity included)."""
    return json.dumps(value, allow_nan=True).encode()


raw_bodies = st.one_of(
    st.binary(max_size=64),
    st.sampled_from([b"{", b"[1,", b'{"a":', b"\xff\xfe\x00", b"nul", b"'single'", b"{'a': 1}", b"  ",
                     b"[" * 100_000, b'{"a":' * 50_000, b"1" * 5000]),
    st.text(alphabet=string.printable, max_size=40).map(str.encode),
)
