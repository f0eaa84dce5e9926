"""errors.json cases map to the right class, status and message; the table and the tree hold together."""
from __future__ import annotations

import pytest
import requests

from app.bitget import errors as E
from app.bitget.errors import error_from_envelope

from .conftest import BASE, load, make_client, mock_http

CASES = {k: v for k, v in load("errors").items() if not k.startswith("_")}
EXPECTED = {
    "sign_error": E.SignatureError,
    "timestamp_expired": E.TimestampError,
    "bad_passphrase": E.PassphraseError,
    "ip_not_whitelisted": E.IpWhitelistError,
    "wrong_environment": E.EnvironmentMismatchError,
    "unified_account": E.UnifiedAccountError,
    "no_position_to_close": E.NoPositionError,
    "duplicate_clientoid": E.DuplicateClientOidError,
    "insufficient_balance": E.InsufficientBalanceError,
    "below_min_notional": E.BelowMinimumError,
    "below_min_qty": E.BelowMinimumError,
    "size_scale": E.PrecisionError,
    "param_invalid": E.ParameterError,
    "leverage_too_high": E.LeverageError,
    "sl_above_mark_long": E.TpslPriceError,
    "rate_limited": E.RateLimitError,
}
DETAIL = "/api/v2/mix/order/detail"


def test_every_fixture_case_has_an_expectation() -> None:
    assert set(CASES) == set(EXPECTED)


@pytest.mark.parametrize("case", sorted(CASES))
def test_envelope_maps_to_class(case: str) -> None:
    body, http = CASES[case]["body"], CASES[case]["http"]
    err = error_from_envelope(body["code"], body["msg"], http, DETAIL)
    assert type(err) is EXPECTED[case]
    assert (err.code, err.http_status, err.endpoint, err.raw_message) == (body["code"], http, DETAIL, body["msg"])
    assert str(err) == err.message and err.message.endswith(f"(Bitget {body['code']})")
    assert body["code"] in repr(err)


@pytest.mark.parametrize("case", sorted(CASES))
def test_client_raises_fixture_error(case: str) -> None:
    body, http = CASES[case]["body"], CASES[case]["http"]
    client = make_client(max_retries=0)
    with mock_http(assert_all_requests_are_fired=False) as rsps:
        rsps.get(BASE + DETAIL, json=body, status=http)
        rsps.get(BASE + "/api/v2/public/time", json=load("public_time"))  # the timestamp case resyncs once
        with pytest.raises(EXPECTED[case]) as info:
            client.order_detail("BTCUSDT", order_id="1")
    assert (info.value.code, info.value.http_status, info.value.endpoint) == (body["code"], http, DETAIL)


def test_operator_messages_read_well() -> None:
    assert str(error_from_envelope("40012", "apikey/password is incorrect", 400, DETAIL)) == (
        "Passphrase is wrong (Bitget 40012)")
    assert str(error_from_envelope("40038", "x", 400, DETAIL)) == "IP not in the key's whitelist (Bitget 40038)"
    assert str(error_from_envelope("43012", "x", 400, DETAIL)) == "Insufficient balance (Bitget 43012)"


def test_http_200_with_error_code_is_an_error() -> None:
    client = make_client()
    with mock_http() as rsps:
        rsps.get(BASE + DETAIL, json=CASES["bad_passphrase"]["body"], status=200)
        with pytest.raises(E.PassphraseError) as info:
            client.order_detail("BTCUSDT", order_id="1")
    assert info.value.http_status == 200


def test_unknown_code_keeps_exchange_text() -> None:
    err = error_from_envelope("99999", "Something new", 400, DETAIL)
    assert type(err) is E.BitgetError
    assert str(err) == "Bitget error 99999: Something new"


@pytest.mark.parametrize(("code", "http", "cls"), [
    ("99999", 503, E.ExchangeUnavailableError),
    (None, 502, E.ExchangeUnavailableError),
    (None, 200, E.ExchangeUnavailableError),
    (None, 429, E.RateLimitError),
    ("40010", 400, E.ExchangeUnavailableError),
    ("45001", 400, E.ExchangeUnavailableError),
])
def test_status_fallbacks(code: str | None, http: int, cls: type) -> None:
    assert type(error_from_envelope(code, "", http, DETAIL)) is cls


@pytest.mark.parametrize(("code", "cls"), [
    ("40006", E.InvalidKeyError), ("40041", E.InvalidKeyError), ("40036", E.PassphraseError),
    ("40002", E.SignatureError), ("40005", E.TimestampError), ("40004", E.TimestampError),
    ("22010", E.IpWhitelistError), ("40014", E.PermissionDeniedError), ("40916", E.AccountRestrictedError),
    ("45108", E.AccountRestrictedError), ("40000", E.AccountRestrictedError),
    ("40762", E.InsufficientBalanceError), ("22034", E.BelowMinimumError), ("22020", E.LeverageError),
    ("43043", E.NoPositionError), ("45034", E.DuplicateClientOidError), ("40774", E.PositionModeMismatchError),
    ("45109", E.PositionModeMismatchError), ("45063", E.TpslPriceError), ("43025", E.PlanNotFoundError),
    ("40109", E.OrderNotFoundError), ("45117", E.MarginModeLockedError), ("40920", E.PositionModeLockedError),
    ("41103", E.PrecisionError), ("40034", E.ParameterError), ("40007", E.ParameterError),
    ("22004", E.SymbolUnavailableError), ("45119", E.SymbolUnavailableError), ("40725", E.ExchangeUnavailableError),
])
def test_table_spot_checks(code: str, cls: type) -> None:
    assert E.error_class_for(code) is cls


def test_every_table_entry_is_well_formed() -> None:
    for code, (cls, text) in E._CODES.items():
        assert issubclass(cls, E.BitgetError) and text and code.isdigit()
        assert str(error_from_envelope(code, "raw", 400, DETAIL)).endswith(f"(Bitget {code})")


def test_tree_says_what_to_do() -> None:
    for cls in (E.RateLimitError, E.ExchangeUnavailableError, E.NetworkError):
        assert issubclass(cls, E.RetryableError)
    for cls in (E.InvalidKeyError, E.PassphraseError, E.SignatureError, E.TimestampError, E.IpWhitelistError,
                E.PermissionDeniedError, E.EnvironmentMismatchError, E.UnifiedAccountError,
                E.AccountRestrictedError):
        assert issubclass(cls, E.AuthError) and not issubclass(cls, E.RetryableError)
    for cls in (E.InsufficientBalanceError, E.BelowMinimumError, E.LeverageError, E.NoPositionError,
                E.DuplicateClientOidError, E.PositionModeMismatchError, E.TpslPriceError, E.PlanNotFoundError,
                E.OrderNotFoundError, E.MarginModeLockedError, E.PositionModeLockedError, E.PrecisionError):
        assert issubclass(cls, E.OrderRejectedError)
    assert E.NO_CHANGE_CODES == {"40814", "45054"}


def test_network_error_has_no_code() -> None:
    err = E.network_error(requests.ConnectTimeout("boom"), DETAIL)
    assert isinstance(err, E.RetryableError) and err.code is None and err.http_status is None
    assert "timed out" in str(err)
