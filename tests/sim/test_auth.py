"""Authentication of private endpoints: key, passphrase, timestamp window, signature, environment, rights."""
from __future__ import annotations

import time

import requests

from .conftest import PT, SignedClient, assert_keys, fixture_data

ACCOUNT = "/api/v2/mix/account/account"
PARAMS = {"symbol": "BTCUSDT", "productType": PT, "marginCoin": "USDT"}
LEVERAGE = "/api/v2/mix/account/set-leverage"
LEVERAGE_BODY = {"symbol": "BTCUSDT", "productType": PT, "marginCoin": "USDT", "leverage": "10"}


def test_a_correctly_signed_get_and_post_pass(client: SignedClient) -> None:
    assert client.get(ACCOUNT, **PARAMS)["posMode"] == "hedge_mode"
    assert client.post(LEVERAGE, LEVERAGE_BODY)["crossMarginLeverage"] == "10"


def test_bad_signature_is_40009(client: SignedClient) -> None:
    assert client.error("GET", ACCOUNT, PARAMS, secret="not-the-secret") == (400, "40009")
    assert client.error("POST", LEVERAGE, body=LEVERAGE_BODY, secret="not-the-secret") == (400, "40009")


def test_the_signature_covers_the_raw_query_and_body(client: SignedClient) -> None:
    ts = str(int(time.time() * 1000))
    from app.bitget.signing import sign

    # signed with the keys sorted, sent in another order: the server checks what it received
    signed_query = "marginCoin=USDT&productType=USDT-FUTURES&symbol=BTCUSDT"
    sent_query = "symbol=BTCUSDT&productType=USDT-FUTURES&marginCoin=USDT"
    headers = {"ACCESS-KEY": client.creds["api_key"], "ACCESS-TIMESTAMP": ts,
               "ACCESS-PASSPHRASE": client.creds["passphrase"], "Content-Type": "application/json",
               "ACCESS-SIGN": sign(client.creds["api_secret"], ts, "GET", ACCOUNT, signed_query)}
    response = requests.get(f"{client.base_url}{ACCOUNT}?{sent_query}", headers=headers, timeout=5)
    assert response.json()["code"] == "40009"
    # a body with spaces is fine when those exact bytes are signed and sent
    spaced = '{"symbol": "BTCUSDT", "productType": "USDT-FUTURES", "marginCoin": "USDT", "leverage": "7"}'
    assert client.ok(client.request("POST", LEVERAGE, raw_body=spaced))["crossMarginLeverage"] == "7"


def test_wrong_passphrase_is_40012(client: SignedClient) -> None:
    assert client.error("GET", ACCOUNT, PARAMS, passphrase="wrong") == (400, "40012")


def test_unknown_key_is_40006(client: SignedClient) -> None:
    assert client.error("GET", ACCOUNT, PARAMS, key="sim_unknown") == (400, "40006")


def test_timestamp_outside_30_seconds_is_40008(client: SignedClient) -> None:
    now = int(time.time() * 1000)
    assert client.error("GET", ACCOUNT, PARAMS, ts=str(now - 31_000)) == (400, "40008")
    assert client.error("GET", ACCOUNT, PARAMS, ts=str(now + 31_000)) == (400, "40008")
    assert client.ok(client.request("GET", ACCOUNT, PARAMS, ts=str(now - 20_000)))
    assert client.error("GET", ACCOUNT, PARAMS, ts="yesterday") == (400, "40005")


def test_missing_headers(client: SignedClient) -> None:
    response = requests.get(f"{client.base_url}{ACCOUNT}?symbol=BTCUSDT&productType={PT}&marginCoin=USDT", timeout=5)
    assert (response.status_code, response.json()["code"]) == (400, "40001")


def test_post_needs_json_content_type(client: SignedClient) -> None:
    assert client.error("POST", LEVERAGE, body=LEVERAGE_BODY, content_type="text/plain") == (400, "40007")


def test_demo_key_needs_paptrading_and_live_key_must_not_send_it(make_client) -> None:
    live = make_client("Live")
    demo = make_client("Demo", demo=True)
    assert demo.ok(demo.request("GET", ACCOUNT, PARAMS))  # the helper sends paptrading: 1 for demo keys
    assert demo.error("GET", ACCOUNT, PARAMS, paptrading=False) == (400, "40099")
    assert live.error("GET", ACCOUNT, PARAMS, paptrading=True) == (400, "40099")


def test_read_only_key_reads_but_cannot_trade(make_client) -> None:
    reader = make_client("Reader", read_only=True)
    assert reader.get(ACCOUNT, **PARAMS)
    assert reader.error("POST", LEVERAGE, body=LEVERAGE_BODY) == (400, "40014")
    info = reader.get("/api/v2/spot/account/info")
    assert_keys(info, fixture_data("spot_account_info"))
    assert "coow" not in info["authorities"] and "cpor" in info["authorities"]


def test_account_info_of_a_trading_key(client: SignedClient) -> None:
    info = client.get("/api/v2/spot/account/info")
    assert {"coor", "cpor", "coow", "cpow"} <= set(info["authorities"])
    assert isinstance(info["parentId"], int) and info["userId"] == str(info["parentId"])


def test_private_call_without_product_type_is_400172(client: SignedClient) -> None:
    assert client.error("GET", ACCOUNT, {"symbol": "BTCUSDT", "marginCoin": "USDT"}) == (400, "400172")
