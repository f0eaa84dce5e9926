"""HTTP transport for BitgetClient: a lean urllib3 pool, request encoding and envelope parsing."""
from __future__ import annotations

import json
from collections.abc import Mapping
from decimal import Decimal
from typing import Any
from urllib.parse import quote

import requests

from .errors import error_from_envelope

SUCCESS = "00000"


def wire_decimal(value: Decimal) -> str:
    """A Decimal as Bitget wants it: plain notation, never an exponent."""
    return format(value, "f")


class TransportResponse:
    """The part of a requests.Response that BitgetClient reads: status_code, text and json()."""

    __slots__ = ("status_code", "content")

    def __init__(self, status_code: int, content: bytes) -> None:
        self.status_code = status_code
        self.content = content

    @property
    def text(self) -> str:
        """The body as text."""
        return self.content.decode("utf-8", errors="replace")

    def json(self) -> Any:
        """The body parsed as JSON (ValueError when it is not JSON)."""
        return json.loads(self.content)


class PooledTransport:
    """A lean keep-alive HTTP transport for BitgetClient: urllib3 connection pools, no requests layers.

    requests spends most of a call's CPU merging settings, cookies, hooks and headers that BitgetClient
    never uses; with hundreds of accounts fanning out in one process that CPU is the bottleneck. This offers
    the one method BitgetClient calls on a session, with requests' defaults (certificate verification, the
    same default headers, pool size, no automatic retries or redirects), and raises requests' exception
    classes so error mapping and retries stay exactly as they are.
    """

    def __init__(self, *, maxsize: int = 16, ca_certs: str | None = None, source_address: str | None = None) -> None:
        import urllib3

        self._urllib3 = urllib3
        extra = {"source_address": (source_address, 0)} if source_address else {}  # this worker's egress IP
        self._pools = urllib3.PoolManager(num_pools=4, maxsize=maxsize, block=False, retries=False,
                                          cert_reqs="CERT_REQUIRED", ca_certs=ca_certs or requests.certs.where(),
                                          **extra)
        self._defaults = dict(requests.utils.default_headers())
        self._timeouts: dict[Any, Any] = {}

    def _timeout(self, timeout: float | tuple[float, float] | None) -> Any:
        cached = self._timeouts.get(timeout)
        if cached is None:
            if isinstance(timeout, tuple):
                cached = self._urllib3.Timeout(connect=timeout[0], read=timeout[1])
            else:
                cached = self._urllib3.Timeout(connect=timeout, read=timeout)
            self._timeouts[timeout] = cached
        return cached

    def request(self, method: str, url: str, *, data: str | bytes | None = None,
                headers: Mapping[str, str] | None = None,
                timeout: float | tuple[float, float] | None = None) -> TransportResponse:
        """Send one request and read the whole answer."""
        exc = self._urllib3.exceptions
        body = data.encode("utf-8") if isinstance(data, str) else data
        try:
            resp = self._pools.urlopen(method, url, body=body, headers={**self._defaults, **(headers or {})},
                                       timeout=self._timeout(timeout), retries=False, redirect=False,
                                       preload_content=True)
        except exc.NewConnectionError as err:  # refused / unresolvable (a ConnectTimeoutError subclass)
            raise requests.exceptions.ConnectionError(err) from err
        except exc.ConnectTimeoutError as err:
            raise requests.exceptions.ConnectTimeout(err) from err
        except exc.ReadTimeoutError as err:
            raise requests.exceptions.ReadTimeout(err) from err
        except exc.SSLError as err:
            raise requests.exceptions.SSLError(err) from err
        except (exc.HTTPError, OSError) as err:
            raise requests.exceptions.ConnectionError(err) from err
        return TransportResponse(resp.status, resp.data)

    def close(self) -> None:
        """Close every pooled connection."""
        self._pools.clear()


def encode_request(method: str, params: Mapping[str, Any]) -> tuple[str, str]:
    """(query, body): a sorted, percent-safe query for GET; compact JSON for POST. None values dropped."""
    clean = {k: v for k, v in params.items() if v is not None}
    if method == "GET":
        pairs = sorted((str(k), wire_decimal(v) if isinstance(v, Decimal) else str(v)) for k, v in clean.items())
        return "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in pairs), ""
    return "", json.dumps(clean, separators=(",", ":")) if clean else ""


def parse_envelope(resp: requests.Response, path: str) -> Any:
    """Return `data` of a "00000" envelope; raise the matching BitgetError for anything else."""
    try:
        payload = resp.json()
    except ValueError:
        payload = None
    if isinstance(payload, dict) and payload.get("code") is not None:
        code = str(payload["code"])
        if code == SUCCESS:
            return payload.get("data")
        msg = str(payload.get("msg") or payload.get("message") or "")
        raise error_from_envelope(code, msg, resp.status_code, path)
    raise error_from_envelope(None, resp.text[:200], resp.status_code, path)
