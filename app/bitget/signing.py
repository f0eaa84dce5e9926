"""Bitget v2 request signing: a pure function over the exact bytes that go on the wire."""
from __future__ import annotations

import base64
import hashlib
import hmac


def prehash(timestamp: str, method: str, request_path: str, query: str = "", body: str = "") -> str:
    """Return the string Bitget signs: timestamp + METHOD + path (+ '?' + query) + body."""
    return timestamp + method.upper() + request_path + (f"?{query}" if query else "") + body


def sign(secret: str, timestamp: str, method: str, request_path: str, query: str = "", body: str = "") -> str:
    """Return the base64 HMAC-SHA256 ACCESS-SIGN for one request."""
    message = prehash(timestamp, method, request_path, query, body)
    digest = hmac.new(secret.encode("utf-8"), message.encode("utf-8"), hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def sign_ws_login(secret: str, timestamp_s: str) -> str:
    """Return the signature for a private WebSocket login (timestamp in seconds)."""
    return sign(secret, timestamp_s, "GET", "/user/verify")
