"""Authentication of private calls exactly as Bitget does it: key, passphrase, timestamp window, HMAC."""
from __future__ import annotations

import hmac
from typing import TYPE_CHECKING, Any

from app.bitget.signing import sign

from .errors import (
    BAD_CONTENT_TYPE,
    BAD_PASSPHRASE,
    BAD_SIGN,
    BAD_TIMESTAMP,
    MISSING_KEY,
    MISSING_PASSPHRASE,
    MISSING_SIGN,
    TIMESTAMP_EXPIRED,
    UNKNOWN_KEY,
    WRONG_ENV,
    fail,
)
from .numbers import now_ms

if TYPE_CHECKING:
    from .exchange import Exchange
    from .state import Account

WINDOW_MS = 30_000


def raw_path(environ: dict[str, Any]) -> str:
    """The request path as the client sent it (before percent-decoding)."""
    raw = environ.get("RAW_URI") or environ.get("REQUEST_URI")
    if raw:
        return str(raw).split("?", 1)[0]
    return str(environ.get("PATH_INFO", ""))


def authenticate(exchange: Exchange, environ: dict[str, Any], body: bytes) -> Account:
    """Return the calling account or raise the Bitget auth error that applies."""
    method = str(environ.get("REQUEST_METHOD", "GET")).upper()
    if method == "POST" and not str(environ.get("CONTENT_TYPE", "")).lower().startswith("application/json"):
        raise fail(BAD_CONTENT_TYPE)
    key = environ.get("HTTP_ACCESS_KEY", "")
    signature = environ.get("HTTP_ACCESS_SIGN", "")
    passphrase = environ.get("HTTP_ACCESS_PASSPHRASE", "")
    timestamp = environ.get("HTTP_ACCESS_TIMESTAMP", "")
    if not key:
        raise fail(MISSING_KEY)
    if not signature:
        raise fail(MISSING_SIGN)
    if not passphrase:
        raise fail(MISSING_PASSPHRASE)
    if not timestamp.isdigit():
        raise fail(BAD_TIMESTAMP)
    acc = exchange.account_for_key(key)
    if acc is None:
        raise fail(UNKNOWN_KEY)
    if not hmac.compare_digest(passphrase.encode(), acc.passphrase.encode()):
        raise fail(BAD_PASSPHRASE)
    if abs(now_ms() - int(timestamp)) > WINDOW_MS:
        raise fail(TIMESTAMP_EXPIRED)
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise fail(BAD_SIGN) from None
    query = str(environ.get("QUERY_STRING", ""))
    expected = sign(acc.api_secret, timestamp, method, raw_path(environ), query, text)
    if not hmac.compare_digest(expected.encode(), signature.encode()):
        raise fail(BAD_SIGN)
    if acc.demo != (environ.get("HTTP_PAPTRADING", "").strip() == "1"):
        raise fail(WRONG_ENV)
    return acc
