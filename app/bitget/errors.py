"""One exception tree for Bitget: the class says what the caller should do, the message what the operator sees.

Every exchange code maps to (class, operator message) through the single table `_CODES`; anything not in
it becomes a plain `BitgetError` that still carries the code and the exchange's own text.
"""
from __future__ import annotations


class BitgetError(Exception):
    """Base of every Bitget failure: code, HTTP status, endpoint and an operator-facing message."""

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        http_status: int | None = None,
        endpoint: str = "",
        raw_message: str = "",
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.http_status = http_status
        self.endpoint = endpoint
        self.raw_message = raw_message

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(code={self.code!r}, http_status={self.http_status!r}, "
            f"endpoint={self.endpoint!r}, message={self.message!r})"
        )


# --- retry later -------------------------------------------------------------------------------------
class RetryableError(BitgetError):
    """Temporary: the same request may succeed later (reads always; orders only with the same clientOid)."""


class RateLimitError(RetryableError):
    """HTTP 429: the request was refused before execution; back off."""


class RateLimitLockoutError(RateLimitError):
    """The IP is (most likely) locked out by Bitget: nothing is sent until the lockout ends; do not retry."""


class ExchangeUnavailableError(RetryableError):
    """Bitget is down, upgrading or answered garbage (5xx, non-JSON, system-busy codes)."""


class NetworkError(RetryableError):
    """No answer (connection refused, DNS, timeout): whether the request executed is unknown."""


# --- fix the credentials / account -------------------------------------------------------------------
class AuthError(BitgetError):
    """The key, its settings or the account need attention from a human."""


class InvalidKeyError(AuthError):
    """The API key does not exist or was deleted."""


class PassphraseError(AuthError):
    """The passphrase (or key/passphrase pair) is wrong."""


class SignatureError(AuthError):
    """The signature or an auth header is wrong: usually the secret, sometimes a client bug."""


class TimestampError(AuthError):
    """The request timestamp is outside Bitget's 30 s window: resync the clock and retry."""


class IpWhitelistError(AuthError):
    """The server's IP is not on the key's whitelist."""


class PermissionDeniedError(AuthError):
    """The key lacks a permission (futures orders/holdings write)."""


class EnvironmentMismatchError(AuthError):
    """Demo key without the paptrading header, or a live key with it."""


class UnifiedAccountError(AuthError):
    """The account is a Unified Trading Account; the classic v2 API does not serve it."""


class AccountRestrictedError(AuthError):
    """The account or key is frozen, restricted or in an unsupported region."""


# --- fix the order -----------------------------------------------------------------------------------
class OrderRejectedError(BitgetError):
    """The exchange refused this order or change; retrying the same request will fail again."""


class InsufficientBalanceError(OrderRejectedError):
    """Not enough balance or margin for this size."""


class BelowMinimumError(OrderRejectedError):
    """Size or notional below the contract's minimum."""


class LeverageError(OrderRejectedError):
    """Leverage out of range or cannot be changed now."""


class NoPositionError(OrderRejectedError):
    """There is no (or not enough) position for this close or TP/SL."""


class DuplicateClientOidError(OrderRejectedError):
    """This clientOid was already used: the earlier request went through."""


class PositionModeMismatchError(OrderRejectedError):
    """The order style does not match the account's hedge/one-way mode."""


class TpslPriceError(OrderRejectedError):
    """A TP/SL trigger is on the wrong side of the mark/current/order price."""


class PlanNotFoundError(OrderRejectedError):
    """The TP/SL or plan order does not exist (any more)."""


class OrderNotFoundError(OrderRejectedError):
    """The order does not exist (any more)."""


class MarginModeLockedError(OrderRejectedError):
    """Margin mode cannot change while the symbol has positions or orders."""


class PositionModeLockedError(OrderRejectedError):
    """Position mode cannot change while the account has positions or orders."""


class PrecisionError(OrderRejectedError):
    """Size or price has too many decimals or is off the step/tick."""


# --- fix the request / the symbol --------------------------------------------------------------------
class ParameterError(BitgetError):
    """A parameter is missing or invalid: a bug on our side or an unexpected value."""


class SymbolUnavailableError(BitgetError):
    """The symbol does not exist, is offline, in maintenance, close-only or not API-tradable."""


# Treated as success by set-leverage: the leverage already has the requested value.
NO_CHANGE_CODES = frozenset({"40814", "45054"})

_Entry = tuple[type[BitgetError], str]


def _codes(codes: str, cls: type[BitgetError], text: str) -> dict[str, _Entry]:
    """Expand 'a b c' into {code: (cls, text)} so the table below stays one line per meaning."""
    return {code: (cls, text) for code in codes.split()}


_CODES: dict[str, _Entry] = {
    # rate and system
    **_codes("429", RateLimitError, "Too many requests: rate limited by Bitget"),
    **_codes("40010 40015 45001 40725 40200", ExchangeUnavailableError,
             "Bitget is temporarily unavailable (maintenance or overload)"),
    # auth, keys, environment
    **_codes("40006 40037 40041", InvalidKeyError, "API key is invalid or does not exist"),
    **_codes("40012 40036", PassphraseError, "Passphrase is wrong"),
    **_codes("40009", SignatureError, "Signature rejected: check the API secret"),
    **_codes("40001 40002 40003 40011", SignatureError, "Authentication header missing"),
    **_codes("40008 40005 40004", TimestampError, "Request timestamp rejected: server clock out of sync"),
    **_codes("40018 40038 22010", IpWhitelistError, "IP not in the key's whitelist"),
    **_codes("40014", PermissionDeniedError, "API key lacks futures trade permission"),
    **_codes("40099", EnvironmentMismatchError, "Demo/live mismatch: key and demo setting do not agree"),
    **_codes("40085", UnifiedAccountError, "Unified Trading Account is not supported by the classic API"),
    **_codes("40013 40024 40026 40022 40023 40916", AccountRestrictedError,
             "Account or API access is frozen or restricted"),
    **_codes("45107", AccountRestrictedError, "API is restricted from opening positions"),
    **_codes("45108", AccountRestrictedError, "API is restricted from closing positions"),
    **_codes("40000", AccountRestrictedError, "Bitget does not serve this account's region"),
    # balance and size
    **_codes("43012 40754 40711 40798 45002", InsufficientBalanceError, "Insufficient balance"),
    **_codes("40712 40800", InsufficientBalanceError, "Insufficient margin"),
    **_codes("40762 45120", InsufficientBalanceError, "Size exceeds what the balance can open"),
    **_codes("45110", BelowMinimumError, "Order value below the minimum notional"),
    **_codes("45111 43006 22034 43027", BelowMinimumError, "Order size below the minimum"),
    **_codes("45112 43007 45113", OrderRejectedError, "Order size or value above the maximum"),
    **_codes("40808 22038", PrecisionError, "Size or price has the wrong precision or step"),
    **_codes("45115 43028 41103", PrecisionError, "Price is not a multiple of the tick"),
    # leverage and modes
    **_codes("43050 45044 45045 40796 40797", LeverageError, "Leverage out of the allowed range"),
    **_codes("40893", LeverageError, "Not enough margin to change leverage"),
    **_codes("40730 45097 22020", LeverageError, "Leverage cannot change while orders or positions exist"),
    **_codes("40814 45054", LeverageError, "Leverage unchanged"),
    **_codes("45117", MarginModeLockedError, "Margin mode cannot change while positions or orders exist"),
    **_codes("40920", PositionModeLockedError, "Position mode cannot change while positions or orders exist"),
    **_codes("40774", PositionModeMismatchError, "Order does not match the account's position mode"),
    **_codes("45109", PositionModeMismatchError, "Account is in hedge (two-way) mode"),
    **_codes("45100 45101 22029", OrderRejectedError, "Rejected by a position mode or risk restriction"),
    **_codes("45116 43005 45118 40723", OrderRejectedError, "Too many positions or open orders"),
    # orders, positions, TP/SL
    **_codes("22002", NoPositionError, "No position to close"),
    **_codes("43023 40891 45068 43043", NoPositionError, "No position (or not enough) for this TP/SL"),
    **_codes("40757 40755 40717 40804 43029 45003 45004 45005 45006 45007", OrderRejectedError,
             "Not enough position available to close"),
    **_codes("40786 40708 45034", DuplicateClientOidError, "Duplicate clientOid: order already placed"),
    **_codes("40305 40304 40402 22003", ParameterError, "Invalid clientOid or order id"),
    **_codes("43001 40768 40109 45057 22001 43004", OrderNotFoundError, "Order does not exist"),
    **_codes("45055 40817 45056 40818 45129", OrderRejectedError, "Order cannot be cancelled in its state"),
    **_codes("43020 43025", PlanNotFoundError, "TP/SL or plan order does not exist"),
    **_codes("43030 43031", OrderRejectedError, "A take-profit/stop-loss already exists"),
    **_codes("40915 40917 45122 45060 45061 45062 45063 45064 45065 45066 45067 43034 43035",
             TpslPriceError, "TP/SL trigger is on the wrong side of the market price"),
    **_codes("45127 45128", OrderRejectedError, "TP/SL is disabled for this position"),
    **_codes("40722 40826 22045 45121", OrderRejectedError, "Market moved too far or liquidity too thin"),
    **_codes("40918 22035", OrderRejectedError, "Opening positions too frequently"),
    **_codes("22030 40110", OrderRejectedError, "Not available in demo trading"),
    **_codes("22044 45104", OrderRejectedError, "Flash close not possible now"),
    # parameters
    **_codes("400172 40017 40019 40020 40034 43011", ParameterError, "Request parameter rejected"),
    **_codes("40007", ParameterError, "Invalid Content-Type"),
    # symbol and market state
    **_codes("40102 40072 40822", SymbolUnavailableError, "Symbol does not exist"),
    **_codes("40309 40845 41113", SymbolUnavailableError, "Symbol is delisted or offline"),
    **_codes("40308 40844 45043", SymbolUnavailableError, "Symbol is in maintenance or settlement"),
    **_codes("22004", SymbolUnavailableError, "Symbol does not allow API trading"),
    **_codes("45119", SymbolUnavailableError, "Symbol is close-only"),
    **_codes("22039 22040 22041", SymbolUnavailableError, "Symbol near delivery: trading limited"),
    **_codes("22043 22067", SymbolUnavailableError, "Auto-deleveraging in progress: symbol limited"),
}


def error_from_envelope(code: str | None, msg: str, http_status: int | None, endpoint: str) -> BitgetError:
    """Build the exception for a failed Bitget envelope (or a bare HTTP failure when code is None)."""
    entry = _CODES.get(code or "")
    if http_status == 429:
        entry = _CODES["429"]
    if entry is not None:
        cls, text = entry
        message = f"{text} (Bitget {code})" if code else text
    elif http_status is not None and http_status >= 500:
        cls, message = ExchangeUnavailableError, f"Bitget is temporarily unavailable (HTTP {http_status})"
    elif code is None:
        cls, message = ExchangeUnavailableError, f"Unexpected answer from Bitget (HTTP {http_status})"
    else:
        cls, message = BitgetError, f"Bitget error {code}: {msg}"
    return cls(message, code=code, http_status=http_status, endpoint=endpoint, raw_message=msg)


def network_error(exc: BaseException, endpoint: str) -> NetworkError:
    """Wrap a transport failure (timeout, refused connection) as a NetworkError with no code."""
    kind = "timed out" if "Timeout" in type(exc).__name__ else "failed"
    return NetworkError(f"Connection to Bitget {kind} ({type(exc).__name__})", endpoint=endpoint,
                        raw_message=str(exc))


def error_class_for(code: str) -> type[BitgetError]:
    """Return the class a code maps to (BitgetError when unknown)."""
    entry = _CODES.get(code)
    return entry[0] if entry else BitgetError
