"""Shared fixtures for the simulator tests: one running simulator per module, reset per test, signed calls."""
from __future__ import annotations

import json
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import requests
from requests.adapters import HTTPAdapter

from app.bitget.signing import sign
from app.sim.limits import LimitConfig
from app.sim.server import SimServer, start_simulator

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "bitget"
PT = "USDT-FUTURES"


def fixture_data(name: str) -> Any:
    """The `data` of a stored Bitget response fixture."""
    return json.loads((FIXTURES / f"{name}.json").read_text())["data"]


def assert_keys(actual: dict[str, Any], fixture: dict[str, Any], extra: set[str] = frozenset()) -> None:
    """The response row has exactly the fixture's keys (plus the named extras)."""
    assert set(actual) == set(fixture) | set(extra), (set(actual) ^ (set(fixture) | set(extra)))


class SourceAddressAdapter(HTTPAdapter):
    """Connect from a chosen local address (e.g. 127.0.0.2: another loopback source IP)."""

    def __init__(self, source_ip: str) -> None:
        self.source_ip = source_ip
        super().__init__()

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        kwargs["source_address"] = (self.source_ip, 0)
        super().init_poolmanager(*args, **kwargs)


def session_from(source_ip: str | None = None) -> requests.Session:
    """A requests session whose connections come from source_ip (the default route when None)."""
    session = requests.Session()
    if source_ip:
        adapter = SourceAddressAdapter(source_ip)
        session.mount("http://", adapter)
        session.mount("https://", adapter)
    return session


class SignedClient:
    """A tiny Bitget client: compact JSON bodies, self-built query strings, every header settable."""

    def __init__(self, base_url: str, creds: dict[str, Any], source_ip: str | None = None) -> None:
        self.base_url = base_url
        self.creds = creds
        self.session = session_from(source_ip)

    def request(self, method: str, path: str, params: dict[str, Any] | None = None, body: Any = None, *,
                ts: str | None = None, secret: str | None = None, passphrase: str | None = None,
                key: str | None = None, paptrading: bool | None = None, content_type: str = "application/json",
                raw_body: str | None = None, timeout: float = 5) -> requests.Response:
        """Send one signed request; overrides let tests break exactly one thing."""
        query = "&".join(f"{k}={v}" for k, v in (params or {}).items())
        text = raw_body if raw_body is not None else (json.dumps(body, separators=(",", ":")) if body is not None else "")
        stamp = ts or str(int(time.time() * 1000))
        headers = {
            "ACCESS-KEY": key or self.creds["api_key"],
            "ACCESS-SIGN": sign(secret or self.creds["api_secret"], stamp, method, path, query, text),
            "ACCESS-TIMESTAMP": stamp, "ACCESS-PASSPHRASE": passphrase or self.creds["passphrase"],
            "Content-Type": content_type, "locale": "en-US",
        }
        if paptrading if paptrading is not None else self.creds.get("demo"):
            headers["paptrading"] = "1"
        url = self.base_url + path + (f"?{query}" if query else "")
        return self.session.request(method, url, data=text.encode() if text else None, headers=headers,
                                    timeout=timeout)

    def get(self, path: str, **params: Any) -> Any:
        """GET and return `data`, asserting success."""
        return self.ok(self.request("GET", path, params))

    def post(self, path: str, body: dict[str, Any]) -> Any:
        """POST and return `data`, asserting success."""
        return self.ok(self.request("POST", path, body=body))

    @staticmethod
    def ok(response: requests.Response) -> Any:
        """Assert a 200 with code 00000 and return data."""
        payload = response.json()
        assert response.status_code == 200 and payload["code"] == "00000", payload
        assert isinstance(payload["requestTime"], int)
        return payload["data"]

    def error(self, method: str, path: str, params: dict[str, Any] | None = None, body: Any = None,
              **kw: Any) -> tuple[int, str]:
        """Send a request expected to fail; returns (HTTP status, Bitget code)."""
        response = self.request(method, path, params, body, **kw)
        payload = response.json()
        assert payload["data"] is None
        return response.status_code, payload["code"]

    # --- shorthands for the common calls

    def order(self, **fields: Any) -> Any:
        """place-order with BTCUSDT / crossed / market defaults."""
        body = {"symbol": "BTCUSDT", "productType": PT, "marginMode": "crossed", "marginCoin": "USDT",
                "orderType": "market", **fields}
        return self.post("/api/v2/mix/order/place-order", body)

    def order_error(self, **fields: Any) -> tuple[int, str]:
        """place-order expected to fail."""
        body = {"symbol": "BTCUSDT", "productType": PT, "marginMode": "crossed", "marginCoin": "USDT",
                "orderType": "market", **fields}
        return self.error("POST", "/api/v2/mix/order/place-order", body=body)

    def positions(self) -> list[dict[str, Any]]:
        """all-position data."""
        return self.get("/api/v2/mix/position/all-position", productType=PT, marginCoin="USDT")

    def position(self, symbol: str = "BTCUSDT", side: str = "long") -> dict[str, Any] | None:
        """One position row or None."""
        return next((p for p in self.positions() if p["symbol"] == symbol and p["holdSide"] == side), None)

    def account(self, symbol: str = "BTCUSDT") -> dict[str, Any]:
        """account data for a symbol."""
        return self.get("/api/v2/mix/account/account", symbol=symbol, productType=PT, marginCoin="USDT")


@pytest.fixture(scope="module")
def server() -> Iterator[SimServer]:
    """One simulator per test module (prices still, no walk)."""
    srv = start_simulator(port=0, price_walk=False)
    yield srv
    srv.stop()


@pytest.fixture
def sim(server: SimServer) -> SimServer:
    """The module's simulator, emptied before each test (Bitget's rate limits on, state forgotten)."""
    server.exchange.reset()
    server.exchange.variants.reset()
    server.faults.configure(None)
    server.limits.configure(LimitConfig())
    server.stats.reset()
    if server.ws is not None:
        server.ws.reset()
    return server


@pytest.fixture
def make_client(sim: SimServer):
    """Builder: make_client(name='Master', balance='10000', **account options) -> SignedClient."""
    def build(name: str = "Master", balance: str | Decimal = "10000", **options: Any) -> SignedClient:
        creds = sim.exchange.create_account(name, balance, **options)
        return SignedClient(sim.url, creds)
    return build


@pytest.fixture
def client(make_client) -> SignedClient:
    """A hedge-mode account with 10000 USDT."""
    return make_client()
