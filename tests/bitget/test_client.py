"""BitgetClient over `responses`: exact wire bytes and signatures, headers, envelope, retries, secrets."""
from __future__ import annotations

import json
import logging
from decimal import Decimal as D
from urllib.parse import urlsplit

import pytest
import requests
import responses

from app.bitget import errors as E
from app.bitget.client import BitgetClient, Credentials, ServerClock, wire_decimal
from app.bitget.models import BatchResult, OrderAck
from app.bitget.signing import sign

from .conftest import API_KEY, BASE, NOW_MS, PASSPHRASE, SECRET, Sleeps, load, make_client, mock_http

MIX = BASE + "/api/v2/mix"
VECTORS = {v["id"]: v for v in load("signature_vectors")["vectors"]}
OK = {"code": "00000", "msg": "success", "requestTime": 1, "data": None}


def only_request(rsps: responses.RequestsMock) -> requests.PreparedRequest:
    assert len(rsps.calls) == 1
    return rsps.calls[0].request


def body_text(request: requests.PreparedRequest) -> str:
    body = request.body or ""
    return body.decode() if isinstance(body, bytes) else body


def assert_signed(request: requests.PreparedRequest, secret: str = SECRET) -> None:
    """Recompute ACCESS-SIGN from what actually went on the wire."""
    url = urlsplit(request.url)
    expected = sign(secret, request.headers["ACCESS-TIMESTAMP"], request.method, url.path, url.query,
                    body_text(request))
    assert request.headers["ACCESS-SIGN"] == expected


# --- signing against the shared vectors --------------------------------------------------------------
def test_get_all_position_matches_vector() -> None:
    vector = VECTORS["get_all_position_query"]
    client = make_client(now_ms=int(vector["timestamp"]))
    with mock_http() as rsps:
        rsps.get(MIX + "/position/all-position", json=load("mix_position_all_position"))
        positions = client.positions()
    request = only_request(rsps)
    assert request.url == BASE + vector["requestPath"] + "?" + vector["queryString"]
    assert request.headers["ACCESS-SIGN"] == vector["expected_access_sign"]
    assert [p.key for p in positions] == [("BTCUSDT", "long"), ("ETHUSDT", "short")]


def test_get_account_matches_vector() -> None:
    vector = VECTORS["get_single_account_query"]
    client = make_client(now_ms=int(vector["timestamp"]))
    with mock_http() as rsps:
        rsps.get(MIX + "/account/account", json=load("mix_account_account"))
        account = client.account("btcusdt")
    request = only_request(rsps)
    assert urlsplit(request.url).query == vector["queryString"]
    assert request.headers["ACCESS-SIGN"] == vector["expected_access_sign"]
    assert account.pos_mode == "hedge_mode"


def test_place_order_body_matches_vector() -> None:
    vector = VECTORS["post_place_order_hedge_open"]
    client = make_client(now_ms=int(vector["timestamp"]))
    with mock_http() as rsps:
        rsps.post(MIX + "/order/place-order", json=load("mix_order_place_order"))
        ack = client.place_order(symbol="BTCUSDT", size=D("0.017"), side="buy", trade_side="open",
                                 margin_mode="isolated", client_oid="cp-m1-c1-1740836789613")
    request = only_request(rsps)
    assert body_text(request) == vector["body"]
    assert request.headers["ACCESS-SIGN"] == vector["expected_access_sign"]
    assert ack == OrderAck("1279727743218102276", "1740836789613")


def test_close_positions_body_matches_vector() -> None:
    vector = VECTORS["post_close_positions"]
    client = make_client(now_ms=int(vector["timestamp"]))
    with mock_http() as rsps:
        rsps.post(MIX + "/order/close-positions", json=load("mix_order_close_positions"))
        result = client.close_positions("BTCUSDT", "long")
    request = only_request(rsps)
    assert body_text(request) == vector["body"]
    assert request.headers["ACCESS-SIGN"] == vector["expected_access_sign"]
    assert result.symbols == ("BTCUSDT",)


def test_place_tpsl_body_matches_vector() -> None:
    vector = VECTORS["post_place_tpsl_pos_loss"]
    client = make_client(secret=vector["secret"], now_ms=int(vector["timestamp"]))
    with mock_http() as rsps:
        rsps.post(MIX + "/order/place-tpsl-order", json=load("mix_order_place_tpsl_order"))
        client.place_tpsl(symbol="BTCUSDT", plan_type="pos_loss", trigger_price=D("82000"), hold_side="long",
                          size=D("0.017"))  # size is dropped for position-level plans
    request = only_request(rsps)
    assert body_text(request) == vector["body"]
    assert request.headers["ACCESS-SIGN"] == vector["expected_access_sign"]


def test_get_without_query_has_no_question_mark() -> None:
    client = make_client()
    with mock_http() as rsps:
        rsps.get(BASE + "/api/v2/spot/account/info", json=load("spot_account_info"))
        info = client.key_info()
    request = only_request(rsps)
    assert request.url == BASE + "/api/v2/spot/account/info"
    assert_signed(request)
    assert info.can_trade_futures


# --- wire format -------------------------------------------------------------------------------------
def test_query_sorted_and_url_safe() -> None:
    client = make_client()
    with mock_http() as rsps:
        rsps.get(MIX + "/order/detail", json=load("mix_order_detail"))
        order = client.order_detail("BTCUSDT", client_oid="cp#1 +x")
    request = only_request(rsps)
    assert urlsplit(request.url).query == "clientOid=cp%231%20%2Bx&productType=USDT-FUTURES&symbol=BTCUSDT"
    assert_signed(request)
    assert order.status == "filled"


def test_post_body_is_compact_and_signed_as_sent() -> None:
    client = make_client()
    with mock_http() as rsps:
        rsps.post(MIX + "/order/place-order", json=load("mix_order_place_order"))
        client.place_order(symbol="ethusdt", size=D("1E-2"), side="sell", margin_mode="crossed",
                           order_type="limit", price=D("2215.370"), reduce_only=True, client_oid="c1")
    request = only_request(rsps)
    body = body_text(request)
    assert " " not in body
    assert json.loads(body) == {"symbol": "ETHUSDT", "productType": "USDT-FUTURES", "marginMode": "crossed",
                                "marginCoin": "USDT", "size": "0.01", "price": "2215.370", "side": "sell",
                                "orderType": "limit", "reduceOnly": "YES", "clientOid": "c1"}
    assert_signed(request)


def test_wire_decimal_never_uses_exponent() -> None:
    assert wire_decimal(D("1E-8")) == "0.00000001"
    assert wire_decimal(D("1.2E+5")) == "120000"


def test_private_headers_live_key() -> None:
    client = make_client()
    with mock_http() as rsps:
        rsps.get(MIX + "/account/accounts", json=load("mix_account_accounts"))
        balance = client.usdt_account()
    headers = only_request(rsps).headers
    assert headers["ACCESS-KEY"] == API_KEY and headers["ACCESS-PASSPHRASE"] == PASSPHRASE
    assert headers["ACCESS-TIMESTAMP"] == str(NOW_MS)
    assert headers["Content-Type"] == "application/json" and headers["locale"] == "en-US"
    assert "paptrading" not in headers
    assert balance.equity == D("2509.86186522")


def test_demo_key_sends_paptrading_on_private_calls_only() -> None:
    client = make_client(demo=True)
    with mock_http() as rsps:
        rsps.get(MIX + "/account/accounts", json=load("mix_account_accounts"))
        rsps.get(MIX + "/market/contracts", json=load("mix_market_contracts"))
        client.accounts()
        contracts = client.contracts()
    private, public = (call.request.headers for call in rsps.calls)
    assert private["paptrading"] == "1"
    assert "paptrading" not in public and "ACCESS-KEY" not in public and "ACCESS-SIGN" not in public
    assert [c.symbol for c in contracts] == ["BTCUSDT", "ETHUSDT", "DOGEUSDT"]


def test_timeout_is_always_passed() -> None:
    client = make_client(timeout=(1.5, 4.0))
    with mock_http() as rsps:
        rsps.get(MIX + "/market/ticker", json=load("mix_market_ticker"))
        rsps.post(MIX + "/account/set-margin-mode", json=load("mix_account_set_margin_mode"))
        assert client.ticker("BTCUSDT").mark_price == D("84491")
        client.set_margin_mode("BTCUSDT", "isolated")
    assert [call.request.req_kwargs["timeout"] for call in rsps.calls] == [(1.5, 4.0), (1.5, 4.0)]


def test_public_client_needs_no_credentials_but_private_calls_fail_cleanly() -> None:
    client = make_client(credentials=None)
    with mock_http() as rsps:
        rsps.get(BASE + "/api/v2/public/time", json=load("public_time"))
        assert client.server_time() == 1740834947195
        with pytest.raises(E.AuthError):
            client.positions()
    assert client.request_count == 1


# --- endpoints and their quirks ----------------------------------------------------------------------
def test_set_leverage_no_change_is_success() -> None:
    client = make_client()
    with mock_http() as rsps:
        rsps.post(MIX + "/account/set-leverage",
                  json={"code": "40814", "msg": "No change in leverage", "data": None}, status=400)
        rsps.post(MIX + "/account/set-leverage", json=load("mix_account_set_leverage"))
        assert client.set_leverage("BTCUSDT", 10, "long") is None
        assert client.set_leverage("BTCUSDT", 10) is None
    first, second = (json.loads(body_text(c.request)) for c in rsps.calls)
    assert first == {"symbol": "BTCUSDT", "productType": "USDT-FUTURES", "marginCoin": "USDT", "leverage": "10",
                     "holdSide": "long"}
    assert "holdSide" not in second


def test_set_leverage_real_error_raises() -> None:
    client = make_client()
    with mock_http() as rsps:
        rsps.post(MIX + "/account/set-leverage", json=load("errors")["leverage_too_high"]["body"], status=400)
        with pytest.raises(E.LeverageError):
            client.set_leverage("BTCUSDT", 200)


def test_set_position_mode_body() -> None:
    client = make_client()
    with mock_http() as rsps:
        rsps.post(MIX + "/account/set-position-mode", json=load("mix_account_set_position_mode"))
        client.set_position_mode("hedge_mode")
    assert body_text(only_request(rsps)) == '{"productType":"USDT-FUTURES","posMode":"hedge_mode"}'


@pytest.mark.parametrize("data", [[], None])
def test_positions_empty_or_null(data: list | None) -> None:
    client = make_client()
    with mock_http() as rsps:
        rsps.get(MIX + "/position/all-position", json={**OK, "data": data})
        assert client.positions() == []


def test_single_position_filters_zero_rows() -> None:
    fixture = load("mix_position_single_position")
    zero = {**fixture["data"][0], "holdSide": "long", "total": "0", "available": "0"}
    client = make_client()
    with mock_http() as rsps:
        rsps.get(MIX + "/position/single-position", json={**fixture, "data": [zero, *fixture["data"]]})
        positions = client.position("BTCUSDT")
    assert [p.hold_side for p in positions] == ["short"]
    assert urlsplit(only_request(rsps).url).query == "marginCoin=USDT&productType=USDT-FUTURES&symbol=BTCUSDT"


def test_close_positions_nothing_to_close_is_flat() -> None:
    client = make_client()
    with mock_http() as rsps:
        rsps.post(MIX + "/order/close-positions", json=load("errors")["no_position_to_close"]["body"], status=400)
        assert client.close_positions() == BatchResult((), ())
    assert body_text(only_request(rsps)) == '{"productType":"USDT-FUTURES"}'


def test_pending_orders_null_list() -> None:
    client = make_client()
    with mock_http() as rsps:
        rsps.get(MIX + "/order/orders-pending", json=load("mix_order_orders_pending__empty"))
        assert client.pending_orders() == []


def test_pending_orders_follows_pages() -> None:
    row = load("mix_order_orders_pending")["data"]["entrustedList"][0]
    page1 = {**OK, "data": {"entrustedList": [row] * 100, "endId": "500"}}
    page2 = {**OK, "data": {"entrustedList": [row], "endId": "400"}}
    client = make_client()
    with mock_http() as rsps:
        rsps.get(MIX + "/order/orders-pending", json=page1)
        rsps.get(MIX + "/order/orders-pending", json=page2)
        orders = client.pending_orders("BTCUSDT")
    assert len(orders) == 101
    assert "idLessThan=500" in rsps.calls[1].request.url


def test_pending_plans_and_cancel() -> None:
    client = make_client()
    with mock_http() as rsps:
        rsps.get(MIX + "/order/orders-plan-pending", json=load("mix_order_orders_plan_pending"))
        rsps.post(MIX + "/order/cancel-plan-order", json=load("mix_order_cancel_plan_order"))
        plans = client.pending_plans("BTCUSDT")
        result = client.cancel_plans("BTCUSDT", "pos_loss", [plans[1].order_id])
    assert urlsplit(rsps.calls[0].request.url).query == "planType=profit_loss&productType=USDT-FUTURES&symbol=BTCUSDT"
    assert json.loads(body_text(rsps.calls[1].request))["orderIdList"] == [{"orderId": "1279733406184210432"}]
    assert len(result.successes) == 1 and len(result.failures) == 1


def test_cancel_plans_with_no_ids_sends_nothing() -> None:
    client = make_client()
    with mock_http():
        assert client.cancel_plans("BTCUSDT", "pos_profit", []) == BatchResult((), ())
    assert client.request_count == 0


def test_modify_tpsl_sends_empty_size_for_position_plans() -> None:
    client = make_client()
    with mock_http() as rsps:
        rsps.post(MIX + "/order/modify-tpsl-order", json=load("mix_order_modify_tpsl_order"))
        ack = client.modify_tpsl(symbol="BTCUSDT", order_id="1279733406184210432", trigger_price=D("82500.0"))
    body = json.loads(body_text(only_request(rsps)))
    assert body["size"] == "" and body["triggerPrice"] == "82500.0" and body["triggerType"] == "mark_price"
    assert ack.order_id == "1279733406184210432"


def test_cancel_order_and_batch() -> None:
    client = make_client()
    with mock_http() as rsps:
        rsps.post(MIX + "/order/cancel-order", json=load("mix_order_cancel_order"))
        rsps.post(MIX + "/order/batch-place-order", json=load("mix_order_batch_place_order"))
        ack = client.cancel_order("BTCUSDT", client_oid="cp-7f3a-c01-lim")
        result = client.batch_place_orders("BTCUSDT", "isolated", [
            {"size": D("0.0042"), "side": "buy", "tradeSide": "open", "orderType": "market",
             "clientOid": "cp-7f3a-c01-open"}])
    assert ack.client_oid == "cp-7f3a-c01-lim"
    batch = json.loads(body_text(rsps.calls[1].request))
    assert batch["orderList"][0]["size"] == "0.0042" and batch["marginMode"] == "isolated"
    assert result.failures[0].code == "45111"
    with pytest.raises(ValueError):
        client.cancel_order("BTCUSDT")


def test_tickers_and_empty_ticker() -> None:
    client = make_client()
    with mock_http() as rsps:
        rsps.get(MIX + "/market/tickers", json=load("mix_market_ticker"))
        rsps.get(MIX + "/market/ticker", json={**OK, "data": []})
        assert [t.symbol for t in client.tickers()] == ["BTCUSDT"]
        with pytest.raises(E.SymbolUnavailableError):
            client.ticker("NOPEUSDT")


def test_usdt_account_missing_row_is_zero() -> None:
    client = make_client()
    with mock_http() as rsps:
        rsps.get(MIX + "/account/accounts", json={**OK, "data": []})
        balance = client.usdt_account()
    assert (balance.margin_coin, balance.equity) == ("USDT", D("0"))


# --- retries, idempotency, clock ---------------------------------------------------------------------
RATE = load("errors")["rate_limited"]
BUSY = {"code": "45001", "msg": "Unknown error", "data": None}


def test_get_retries_429_then_succeeds(sleeps: Sleeps) -> None:
    client = make_client(sleep=sleeps)
    with mock_http() as rsps:
        rsps.get(MIX + "/position/all-position", json=RATE["body"], status=429)
        rsps.get(MIX + "/position/all-position", body="<html>bad gateway</html>", status=502)
        rsps.get(MIX + "/position/all-position", json=load("mix_position_all_position"))
        assert len(client.positions()) == 2
    assert client.request_count == 3
    assert len(sleeps) == 2 and 0 <= sleeps[0] <= 0.2 and 0 <= sleeps[1] <= 0.4


def test_backoff_is_capped(sleeps: Sleeps) -> None:
    client = make_client(sleep=sleeps, max_retries=6, backoff_base=1.0, backoff_cap=2.0)
    with mock_http() as rsps:
        rsps.get(MIX + "/position/all-position", body=requests.ConnectionError("refused"))
        with pytest.raises(E.NetworkError) as info:
            client.positions()
    assert isinstance(info.value.__cause__, requests.ConnectionError)
    assert client.request_count == 7 and len(sleeps) == 6 and max(sleeps) <= 2.0


def test_post_without_client_oid_not_retried_after_connection_error(sleeps: Sleeps) -> None:
    client = make_client(sleep=sleeps)
    with mock_http() as rsps:
        rsps.post(MIX + "/order/place-order", body=requests.ConnectionError("reset"))
        with pytest.raises(E.NetworkError):
            client.place_order(symbol="BTCUSDT", size=D("0.01"), side="buy", margin_mode="crossed")
    assert client.request_count == 1 and sleeps == []


def test_duplicate_client_oid_on_retry_returns_existing_order(sleeps: Sleeps) -> None:
    client = make_client(sleep=sleeps)
    with mock_http() as rsps:
        rsps.post(MIX + "/order/place-order", body=requests.ReadTimeout("lost answer"))
        rsps.post(MIX + "/order/place-order", json=load("errors")["duplicate_clientoid"]["body"], status=400)
        rsps.get(MIX + "/order/detail", json=load("mix_order_detail"))
        ack = client.place_order(symbol="BTCUSDT", size=D("0.017"), side="buy", trade_side="open",
                                 margin_mode="isolated", client_oid="1740836789613")
    assert ack == OrderAck("1279727743218102276", "1740836789613", replayed=True)
    assert client.request_count == 3 and len(sleeps) == 1
    assert "clientOid=1740836789613" in rsps.calls[2].request.url


def test_duplicate_tpsl_client_oid_resolves_via_pending_plans(sleeps: Sleeps) -> None:
    client = make_client(sleep=sleeps)
    with mock_http() as rsps:
        rsps.post(MIX + "/order/place-tpsl-order", body=requests.ConnectionError("reset"))
        rsps.post(MIX + "/order/place-tpsl-order", json=load("errors")["duplicate_clientoid"]["body"], status=400)
        rsps.get(MIX + "/order/orders-plan-pending", json=load("mix_order_orders_plan_pending"))
        ack = client.place_tpsl(symbol="BTCUSDT", plan_type="pos_loss", trigger_price=D("82000"),
                                hold_side="long", client_oid="cp-7f3a-c01-sl")
    assert ack == OrderAck("1279733406184210432", "cp-7f3a-c01-sl", replayed=True)
    assert client.request_count == 3


def test_error_envelope_with_message_key() -> None:
    client = make_client()
    with mock_http() as rsps:
        rsps.get(MIX + "/order/detail", json={"code": "43001", "message": "Order does not exist"}, status=400)
        with pytest.raises(E.OrderNotFoundError) as info:
            client.order_detail("BTCUSDT", order_id="1")
    assert info.value.raw_message == "Order does not exist"


def test_timestamp_error_resyncs_once_and_retries() -> None:
    mono = [0.0]
    clock = ServerClock(wall=lambda: 0.0, monotonic=lambda: mono[0])
    clock.sync(lambda: NOW_MS)
    mono[0] = 60.0  # synced a minute ago: fresh, yet Bitget rejects the timestamp
    client = make_client(clock=clock)
    with mock_http() as rsps:
        rsps.get(MIX + "/account/accounts", json=load("errors")["timestamp_expired"]["body"], status=400)
        rsps.get(BASE + "/api/v2/public/time", json={**OK, "data": {"serverTime": str(NOW_MS + 45_000)}})
        rsps.get(MIX + "/account/accounts", json=load("mix_account_accounts"))
        client.accounts()
    assert client.request_count == 3
    assert client.clock.now_ms() == NOW_MS + 45_000
    assert rsps.calls[2].request.headers["ACCESS-TIMESTAMP"] == str(NOW_MS + 45_000)


def test_timestamp_error_resync_is_coalesced_across_threads() -> None:
    mono = [0.0]
    clock = ServerClock(wall=lambda: 0.0, monotonic=lambda: mono[0])
    fetches: list[int] = []
    clock.sync(lambda: fetches.append(1) or NOW_MS)
    mono[0] = 60.0
    clock.resync(lambda: fetches.append(2) or NOW_MS + 1)
    clock.resync(lambda: fetches.append(3) or NOW_MS + 2)  # another account, same moment: no second fetch
    assert fetches == [1, 2] and clock.now_ms() == NOW_MS + 1


def test_stale_clock_syncs_before_first_private_call() -> None:
    ticks = iter([1000.0, 1000.2])  # wall time before and after the /time round trip
    clock = ServerClock(wall=lambda: next(ticks, 1000.2), monotonic=lambda: 5.0)
    client = make_client(clock=clock)
    with mock_http() as rsps:
        rsps.get(BASE + "/api/v2/public/time", json={**OK, "data": {"serverTime": "1000600"}})
        rsps.get(MIX + "/account/accounts", json=load("mix_account_accounts"))
        client.accounts()
    assert clock.offset_ms == 1000600 - 1000100
    assert [urlsplit(c.request.url).path for c in rsps.calls] == ["/api/v2/public/time", "/api/v2/mix/account/accounts"]
    assert not clock.is_stale()


def test_malformed_server_time_is_a_bitget_error() -> None:
    client = make_client(credentials=None, max_retries=0)
    with mock_http() as rsps:
        rsps.get(BASE + "/api/v2/public/time", json={**OK, "data": {}})
        with pytest.raises(E.ExchangeUnavailableError):
            client.server_time()


def test_shared_clock_per_base_url() -> None:
    assert ServerClock.shared(BASE) is ServerClock.shared(BASE + "/")
    assert ServerClock.shared(BASE) is not ServerClock.shared("http://127.0.0.1:5001")


# One table: (name, call, injected answers, expected exception or None, expected request count).
PLACE = dict(symbol="BTCUSDT", size=D("0.017"), side="buy", margin_mode="isolated")
CONN = requests.ConnectionError("refused")
OK_PLACE = load("mix_order_place_order")
OK_CLOSE = load("mix_order_close_positions")
INJECTIONS = [
    ("get 429 x6 gives up (429s get two extra retries)", lambda c: c.positions(), "GET", "/position/all-position",
     [(429, RATE["body"])] * 6, E.RateLimitError, 6),
    ("get 5xx x4 gives up", lambda c: c.positions(), "GET", "/position/all-position",
     [(503, {"code": "40015", "msg": "busy", "data": None})] * 4, E.ExchangeUnavailableError, 4),
    ("get 503 x4 gives up", lambda c: c.positions(), "GET", "/position/all-position",
     [(503, "Service Unavailable")] * 4, E.ExchangeUnavailableError, 4),
    ("get busy code then ok", lambda c: c.positions(), "GET", "/position/all-position",
     [(400, BUSY), (200, load("mix_position_all_position"))], None, 2),
    ("get conn x4 gives up", lambda c: c.positions(), "GET", "/position/all-position",
     [CONN] * 4, E.NetworkError, 4),
    ("get auth error not retried", lambda c: c.positions(), "GET", "/position/all-position",
     [(400, load("errors")["bad_passphrase"]["body"])], E.PassphraseError, 1),
    ("place with oid conn then ok", lambda c: c.place_order(**PLACE, client_oid="x1"), "POST",
     "/order/place-order", [CONN, (200, OK_PLACE)], None, 2),
    ("place with oid 502 then ok", lambda c: c.place_order(**PLACE, client_oid="x1"), "POST",
     "/order/place-order", [(502, "bad gateway"), (200, OK_PLACE)], None, 2),
    ("place without oid conn", lambda c: c.place_order(**PLACE), "POST", "/order/place-order",
     [CONN], E.NetworkError, 1),
    ("place without oid 503", lambda c: c.place_order(**PLACE), "POST", "/order/place-order",
     [(503, "x")], E.ExchangeUnavailableError, 1),
    ("place without oid 429 then ok", lambda c: c.place_order(**PLACE), "POST", "/order/place-order",
     [(429, RATE["body"]), (200, OK_PLACE)], None, 2),
    ("place rejected not retried", lambda c: c.place_order(**PLACE, client_oid="x1"), "POST",
     "/order/place-order", [(400, load("errors")["insufficient_balance"]["body"])], E.InsufficientBalanceError, 1),
    ("close conn not retried", lambda c: c.close_positions("BTCUSDT"), "POST", "/order/close-positions",
     [CONN], E.NetworkError, 1),
    ("close 429 then ok", lambda c: c.close_positions("BTCUSDT"), "POST", "/order/close-positions",
     [(429, RATE["body"]), (200, OK_CLOSE)], None, 2),
    ("set-leverage conn then ok", lambda c: c.set_leverage("BTCUSDT", 5), "POST", "/account/set-leverage",
     [CONN, (200, load("mix_account_set_leverage"))], None, 2),
    ("cancel 503 then ok", lambda c: c.cancel_order("BTCUSDT", order_id="1"), "POST", "/order/cancel-order",
     [(503, "x"), (200, load("mix_order_cancel_order"))], None, 2),
    ("http 200 non-json", lambda c: c.accounts(), "GET", "/account/accounts",
     [(200, "<html>")] * 4, E.ExchangeUnavailableError, 4),
]


@pytest.mark.parametrize(("name", "call", "method", "path", "answers", "error", "count"), INJECTIONS,
                         ids=[row[0] for row in INJECTIONS])
def test_injected_failures(name, call, method, path, answers, error, count, sleeps: Sleeps) -> None:
    client = make_client(sleep=sleeps)
    with mock_http() as rsps:
        for answer in answers:
            if isinstance(answer, Exception):
                rsps.add(method, MIX + path, body=answer)
            else:
                status, payload = answer
                kind = "json" if isinstance(payload, dict) else "body"
                rsps.add(method, MIX + path, status=status, **{kind: payload})
        if error is None:
            call(client)
        else:
            with pytest.raises(error):
                call(client)
    assert client.request_count == count
    assert len(sleeps) == count - 1 if error is None or count > 1 else sleeps == []


# --- secrets stay secret -----------------------------------------------------------------------------
def test_credentials_repr_masks_secrets() -> None:
    creds = Credentials(API_KEY, SECRET, PASSPHRASE, demo=True)
    for text in (repr(creds), str(creds), f"{creds}", repr(make_client(credentials=creds))):
        assert SECRET not in text and PASSPHRASE not in text and API_KEY not in text
    assert repr(creds) == "Credentials(api_key='bg_0...cdef', api_secret='***', passphrase='***', demo=True)"
    assert "***" in repr(Credentials("short", "s", "p"))


def test_logs_never_contain_secrets(caplog: pytest.LogCaptureFixture, sleeps: Sleeps) -> None:
    caplog.set_level(logging.DEBUG, logger="app.bitget")
    client = make_client(sleep=sleeps)
    with mock_http() as rsps:
        rsps.post(MIX + "/order/place-order", json=RATE["body"], status=429)
        rsps.post(MIX + "/order/place-order", json=OK_PLACE)
        client.place_order(**PLACE, client_oid="x1")
    signature = rsps.calls[1].request.headers["ACCESS-SIGN"]
    text = caplog.text
    for secret in (SECRET, PASSPHRASE, API_KEY, signature):
        assert secret not in text
    assert "POST /api/v2/mix/order/place-order status=200 code=00000" in text
    assert "status=429 code=429" in text and "retry 1/5" in text


def test_request_count_is_thread_safe() -> None:
    from concurrent.futures import ThreadPoolExecutor

    client = make_client()
    with mock_http() as rsps:
        rsps.get(BASE + "/api/v2/public/time", json=load("public_time"))
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda _: client.server_time(), range(40)))
    assert client.request_count == 40


def test_default_client_shapes() -> None:
    client = BitgetClient(None, BASE + "/")
    assert client.base_url == BASE and client.timeout == (3.05, 10.0) and client.max_retries == 3
    assert client.product_type == "USDT-FUTURES" and client.margin_coin == "USDT"
