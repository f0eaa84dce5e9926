"""Every signature vector of the shared fixtures, REST and WebSocket login."""
from __future__ import annotations

import pytest

from app.bitget.signing import prehash, sign, sign_ws_login

from .conftest import load

VECTORS = load("signature_vectors")["vectors"]
REST = [v for v in VECTORS if v["kind"] == "rest"]
WS = [v for v in VECTORS if v["kind"] == "websocket_login"]


def test_fixture_has_all_vectors() -> None:
    assert len(VECTORS) == 10
    assert len(REST) == 9 and len(WS) == 1


@pytest.mark.parametrize("vector", REST, ids=[v["id"] for v in REST])
def test_rest_prehash_matches(vector: dict) -> None:
    got = prehash(vector["timestamp"], vector["method"], vector["requestPath"], vector["queryString"],
                  vector["body"])
    assert got == vector["prehash"]


@pytest.mark.parametrize("vector", REST, ids=[v["id"] for v in REST])
def test_rest_signature_matches(vector: dict) -> None:
    got = sign(vector["secret"], vector["timestamp"], vector["method"], vector["requestPath"],
               vector["queryString"], vector["body"])
    assert got == vector["expected_access_sign"]


def test_lower_case_method_is_upper_cased() -> None:
    v = next(v for v in REST if v["id"] == "get_all_position_query")
    assert sign(v["secret"], v["timestamp"], "get", v["requestPath"], v["queryString"]) == v["expected_access_sign"]


def test_spaced_and_compact_bodies_sign_differently() -> None:
    spaced = next(v for v in REST if v["id"] == "post_body_with_spaces")
    compact_body = spaced["body"].replace(", ", ",").replace(": ", ":")
    compact = sign(spaced["secret"], spaced["timestamp"], "POST", spaced["requestPath"], "", compact_body)
    assert compact != spaced["expected_access_sign"]


@pytest.mark.parametrize("vector", WS, ids=[v["id"] for v in WS])
def test_ws_login_signature(vector: dict) -> None:
    assert prehash(vector["timestamp"], "GET", "/user/verify") == vector["prehash"]
    assert sign_ws_login(vector["secret"], vector["timestamp"]) == vector["expected_access_sign"]
    assert vector["login_message"]["args"][0]["sign"] == vector["expected_access_sign"]
