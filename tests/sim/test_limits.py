"""Bitget's rate limits in the simulator (REFERENCE section 5): per UID and endpoint, public 20/s per IP,
6000 requests a minute per source IP with a lockout, the exact 429 reply, stats, and the switches."""
from __future__ import annotations

import inspect
import re
import time
from typing import Any

import pytest
import requests
from flask import Flask

from app.sim.limits import PUBLIC_PATHS, UID_RATES, LimitConfig, RateLimiter, merge
from app.sim.server import start_simulator

from .conftest import PT, SignedClient, session_from

CLOSE = "/api/v2/mix/order/close-positions"
PLACE = "/api/v2/mix/order/place-order"
ALL_POSITION = "/api/v2/mix/position/all-position"
ACCOUNTS = "/api/v2/mix/account/accounts"
FILLS = "/api/v2/mix/order/fill-history"  # not in the section 5 table: the 10/s default
TIME = "/api/v2/public/time"
PUBLIC = [(TIME, {}), ("/api/v2/mix/market/contracts", {"productType": PT, "symbol": "BTCUSDT"}),
          ("/api/v2/mix/market/ticker", {"productType": PT, "symbol": "BTCUSDT"}),
          ("/api/v2/mix/market/tickers", {"productType": PT}),
          ("/api/v2/mix/market/symbol-price", {"productType": PT, "symbol": "BTCUSDT"})]
BODY_429 = re.compile(rb'\{"code":"429","msg":"Too Many Requests","requestTime":\d{13},"data":null\}')


class FakeClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def stats(sim) -> dict[str, Any]:
    return sim.stats.snapshot(sim.exchange.key_names())


def public_calls(session: requests.Session, url: str, n: int) -> list[int]:
    """n public requests spread over the five public endpoints (each stays under its own 20/s)."""
    codes = []
    for i in range(n):
        path, params = PUBLIC[i % len(PUBLIC)]
        codes.append(session.get(url + path, params=params, timeout=5).status_code)
    return codes


def assert_too_many(response: requests.Response) -> None:
    """Bitget's 429, byte for byte."""
    assert response.status_code == 429 and response.reason == "Too Many Requests"
    assert response.headers["Content-Type"] == "application/json"
    assert BODY_429.fullmatch(response.content), response.content
    assert abs(response.json()["requestTime"] - time.time() * 1000) < 5000


def close(client: SignedClient, symbol: str) -> requests.Response:
    return client.request("POST", CLOSE, body={"productType": PT, "symbol": symbol})


# ----- over HTTP ------------------------------------------------------------------------------------------

def test_close_positions_is_one_per_second_per_account(sim, make_client) -> None:
    first, other = make_client("A"), make_client("B")
    for name in ("A", "B"):
        sim.exchange.open_position(name, "BTCUSDT", "long", "0.01")
        sim.exchange.open_position(name, "ETHUSDT", "long", "1")
    assert close(first, "BTCUSDT").status_code == 200
    refused = close(first, "ETHUSDT")
    assert_too_many(refused)
    assert ("ETHUSDT", "long") in sim.exchange.account("A").positions  # refused means not executed
    assert close(other, "BTCUSDT").status_code == 200  # another account has its own count
    assert len(first.positions()) == 1  # and another endpoint of the same account too
    counted = stats(sim)
    assert counted["rate_limited"] == {"uid_endpoint": 1, "public_ip": 0, "ip_window": 0, "lockout": 0, "total": 1}
    assert counted["rate_limited_by_path"] == {CLOSE: 1} and counted["by_status"]["429"] == 1
    time.sleep(1.0)
    assert close(first, "ETHUSDT").status_code == 200
    assert sim.exchange.account("A").positions == {}


def test_other_private_endpoints_use_their_table_rate(sim, client: SignedClient) -> None:
    codes = [client.request("GET", ALL_POSITION, {"productType": PT}).status_code for _ in range(8)]
    assert codes[:5] == [200] * 5 and 429 in codes  # all-position: 5/s
    codes = [client.request("GET", FILLS, {"productType": PT}).status_code for _ in range(14)]
    assert codes[:10] == [200] * 10 and 429 in codes  # not listed: 10/s


def test_public_endpoints_allow_20_per_second_per_ip(sim, client: SignedClient) -> None:
    session = session_from()
    started = time.monotonic()
    replies = [session.get(sim.url + TIME, timeout=5) for _ in range(46)]
    elapsed = time.monotonic() - started
    codes = [r.status_code for r in replies]
    assert codes[:20] == [200] * 20 and set(codes) == {200, 429}
    if elapsed < 0.9:  # (a loaded machine may take longer: then the next second's 20 are allowed)
        assert codes.count(200) == 20
    assert_too_many(next(r for r in replies if r.status_code == 429))
    path, params = PUBLIC[2]
    assert session.get(sim.url + path, params=params, timeout=5).status_code == 200  # own count per endpoint
    assert client.positions() == []  # private calls are per account
    assert session_from("127.0.0.2").get(sim.url + TIME, timeout=5).status_code == 200  # another source IP
    counted = stats(sim)
    assert counted["rate_limited"]["public_ip"] == codes.count(429) == counted["rate_limited"]["total"]
    assert counted["ip_requests"] == {"127.0.0.1": 48, "127.0.0.2": 1}


def test_ip_window_lockout_refuses_even_public_calls_then_lifts() -> None:
    server = start_simulator(port=0, price_walk=False, rate_limits={"ip_per_minute": 30, "lockout_seconds": 2})
    try:
        signed = SignedClient(server.url, server.exchange.create_account("Master"))
        session = session_from()
        assert public_calls(session, server.url, 25) == [200] * 25
        assert [signed.request("GET", ACCOUNTS, {"productType": PT}).status_code for _ in range(5)] == [200] * 5
        assert stats(server)["ip_requests"] == {"127.0.0.1": 30}
        assert_too_many(signed.request("GET", ACCOUNTS, {"productType": PT}))  # the 31st in a minute
        started = stats(server)
        assert started["lockouts_started"] == 1 and started["rate_limited"]["ip_window"] == 1
        until = started["lockouts"]["127.0.0.1"]
        assert 1500 < until - time.time() * 1000 <= 2000
        for path, params in PUBLIC:
            assert_too_many(session.get(server.url + path, params=params, timeout=5))
        assert_too_many(signed.request("GET", ACCOUNTS, {"productType": PT}))
        assert requests.get(server.url + "/_sim/stats", timeout=5).status_code == 200  # the admin is not limited
        during = stats(server)
        assert during["rate_limited"]["lockout"] == 6 and during["lockouts_started"] == 1
        assert during["ip_requests"] == {"127.0.0.1": 7}  # counting started afresh at the lockout
        time.sleep(max(0.0, until / 1000 - time.time()) + 0.1)
        assert public_calls(session, server.url, 5) == [200] * 5
        assert signed.request("GET", ACCOUNTS, {"productType": PT}).status_code == 200
        after = stats(server)
        assert after["lockouts"] == {} and after["lockouts_started"] == 1 and after["ip_requests"] == {"127.0.0.1": 13}
    finally:
        server.stop()


def test_refused_requests_count_towards_the_ip_window(sim) -> None:
    sim.limits.configure(ip_per_minute=30, lockout_seconds=60)
    session = session_from()
    codes = [session.get(sim.url + TIME, timeout=5).status_code for _ in range(30)]
    assert 429 in codes  # some of the 30 were refused by the public 20/s ...
    path, params = PUBLIC[2]
    assert_too_many(session.get(sim.url + path, params=params, timeout=5))  # ... and still counted: locked out
    counted = stats(sim)
    assert counted["rate_limited"]["ip_window"] == 1 and counted["lockouts_started"] == 1
    assert counted["rate_limited"]["public_ip"] == codes.count(429)


def test_a_second_source_ip_is_counted_apart_and_not_locked_out(sim, client: SignedClient) -> None:
    sim.limits.configure(ip_per_minute=30, lockout_seconds=60)
    other = session_from("127.0.0.2")
    assert public_calls(other, sim.url, 20) == [200] * 20
    local = session_from()
    assert public_calls(local, sim.url, 30) == [200] * 30
    assert stats(sim)["ip_requests"] == {"127.0.0.1": 30, "127.0.0.2": 20}
    assert_too_many(local.get(sim.url + TIME, timeout=5))
    assert client.request("GET", ALL_POSITION, {"productType": PT}).status_code == 429  # every call from .1
    assert public_calls(other, sim.url, 5) == [200] * 5
    from_two = SignedClient(sim.url, client.creds, source_ip="127.0.0.2")
    assert from_two.positions() == []  # the same account from the other IP is fine
    counted = stats(sim)
    assert list(counted["lockouts"]) == ["127.0.0.1"] and counted["lockouts_started"] == 1
    assert counted["ip_requests"] == {"127.0.0.1": 2, "127.0.0.2": 26}


def test_admin_api_switches_limits_at_run_time(sim, client: SignedClient) -> None:
    url = sim.url + "/_sim/limits"
    config = requests.get(url, timeout=5).json()
    assert (config["enabled"], config["ip_per_minute"], config["lockout_seconds"]) == (True, 6000, 300)
    assert (config["uid_rates"][CLOSE], config["uid_rates"][ALL_POSITION], config["public_rate"]) == (1, 5, 20)
    off = requests.put(url, json={"enabled": False}, timeout=5).json()
    assert off["enabled"] is False and off["ip_per_minute"] == 6000
    assert [client.request("GET", ALL_POSITION, {"productType": PT}).status_code for _ in range(12)] == [200] * 12
    assert stats(sim)["rate_limited"]["total"] == 0 and stats(sim)["rate_limits_enabled"] is False
    on = requests.put(url, json={"enabled": True, "ip_per_minute": 5, "lockout_seconds": 1}, timeout=5).json()
    assert (on["enabled"], on["ip_per_minute"], on["lockout_seconds"]) == (True, 5, 1)
    assert public_calls(session_from(), sim.url, 5) == [200] * 5
    assert_too_many(requests.get(sim.url + TIME, timeout=5))
    shown = requests.get(sim.url + "/_sim/stats", timeout=5).json()
    assert shown["lockouts_started"] == 1 and set(shown["lockouts"]) == {"127.0.0.1"}
    assert shown["rate_limited"]["ip_window"] == 1 and shown["ip_requests"] == {"127.0.0.1": 1}
    assert requests.post(url + "/reset", timeout=5).json() == {"ok": True}  # forgets the lockout
    assert requests.get(sim.url + TIME, timeout=5).status_code == 200
    for bad in ({"ip_per_minute": "many"}, {"lockout_seconds": -1}, {"nope": 1}, {"uid_rates": {CLOSE: 0}}, [1]):
        reply = requests.put(url, json=bad, timeout=5)
        assert reply.status_code == 400 and "error" in reply.json()
    assert requests.post(sim.url + "/_sim/stats/reset", timeout=5).json() == {"ok": True}
    cleared = requests.get(sim.url + "/_sim/stats", timeout=5).json()
    assert cleared["rate_limited"] == {"uid_endpoint": 0, "public_ip": 0, "ip_window": 0, "lockout": 0, "total": 0}
    assert (cleared["lockouts_started"], cleared["ip_requests"], cleared["lockouts"]) == (0, {}, {})


def test_in_process_handle_and_start_options(sim, client: SignedClient) -> None:
    assert inspect.signature(start_simulator).parameters["rate_limits"].default is True
    assert sim.limits.enabled and sim.limits.config == LimitConfig()
    changed = sim.limits.configure(uid_rates={CLOSE: 50})
    assert changed["uid_rates"][CLOSE] == 50 and changed["uid_rates"][PLACE] == 10
    sim.exchange.open_position("Master", "BTCUSDT", "long", "0.01")
    sim.exchange.open_position("Master", "ETHUSDT", "long", "1")
    assert [close(client, s).status_code for s in ("BTCUSDT", "ETHUSDT")] == [200, 200]
    unlimited = start_simulator(port=0, price_walk=False, rate_limits=False)
    try:
        assert not unlimited.limits.enabled
        session = session_from()
        assert {session.get(unlimited.url + TIME, timeout=5).status_code for _ in range(60)} == {200}
        assert stats(unlimited)["rate_limited"]["total"] == 0 and stats(unlimited)["ip_requests"] == {}
    finally:
        unlimited.stop()


def test_fault_injected_429s_are_unchanged(sim, client: SignedClient) -> None:
    sim.faults.configure({PLACE: {"p_429": 1}})
    body = {"symbol": "BTCUSDT", "productType": PT, "marginMode": "crossed", "marginCoin": "USDT",
            "orderType": "market", "side": "buy", "tradeSide": "open", "size": "0.01"}
    assert_too_many(client.request("POST", PLACE, body=body))
    counted = stats(sim)
    assert counted["by_status"] == {"429": 1} and counted["rate_limited"]["total"] == 0


def test_cli_and_make_run_turn_limits_on_by_default(monkeypatch) -> None:
    from app import sim_mode
    from app.config import Defaults
    from app.sim import __main__ as cli

    assert cli.parse_args([]).no_limits is False and cli.parse_args(["--no-limits"]).no_limits is True
    seen: list[Any] = []

    def fake_start(*args: Any, **kwargs: Any) -> Any:
        seen.append(kwargs["rate_limits"])
        raise SystemExit(0)

    monkeypatch.setattr(cli, "start_simulator", fake_start)
    monkeypatch.setattr(cli.logging, "basicConfig", lambda **kw: None)
    for argv in ([], ["--no-limits"]):
        with pytest.raises(SystemExit):
            cli.main(argv)
    assert seen == [True, False]

    assert Defaults.SIM_RATE_LIMITS is True
    for value in (True, False):
        flask_app = Flask("sim-mode-test")
        flask_app.config.update(SIM_PORT=0, SIM_SEED=1, SIM_PRICE_WALK=False, SIM_STATE_FILE=None,
                                SIM_RATE_LIMITS=value)
        runner = sim_mode.SimRunner(flask_app)
        try:
            runner.ensure_started()
            assert runner.server.limits.enabled is value
        finally:
            runner.stop()


def test_simulator_table_agrees_with_the_copiers_budget() -> None:
    """The copier keeps every endpoint at or under the exchange's limit (REFERENCE section 5)."""
    from app.bitget.ratelimit import PUBLIC_PATHS as COPIER_PUBLIC
    from app.bitget.ratelimit import EndpointLimits
    from app.sim.registry import ROUTES

    copier, exchange = EndpointLimits(), LimitConfig()
    assert set(COPIER_PUBLIC) == set(PUBLIC_PATHS) == {p for (_, p), r in ROUTES.items() if not r.private}
    for path in set(UID_RATES) | {p for (_, p), r in ROUTES.items() if r.private}:
        assert copier.rate_for(path) <= exchange.rate_for(path), path


# ----- the limiter itself, on a hand-moved clock -----------------------------------------------------------

def test_uid_windows_hold_the_table_rate_in_any_second() -> None:
    clock = FakeClock()
    limiter = RateLimiter({"grace_ms": 0}, clock=clock)
    assert limiter.check_uid("1", CLOSE) is None
    assert limiter.check_uid("1", CLOSE) == "uid_endpoint"
    assert limiter.check_uid("2", CLOSE) is None  # another UID
    clock.now += 0.5
    assert limiter.check_uid("1", CLOSE) == "uid_endpoint"
    clock.now += 0.5
    assert limiter.check_uid("1", CLOSE) is None
    assert [limiter.check_uid("1", ALL_POSITION) for _ in range(6)] == [None] * 5 + ["uid_endpoint"]
    clock.now += 0.5
    assert limiter.check_uid("1", ALL_POSITION) == "uid_endpoint"  # 5 in any one second, not 5 + refill
    clock.now += 0.5
    assert [limiter.check_uid("1", ALL_POSITION) for _ in range(6)] == [None] * 5 + ["uid_endpoint"]
    assert [limiter.check_uid("1", FILLS) for _ in range(11)] == [None] * 10 + ["uid_endpoint"]
    slow = RateLimiter({"grace_ms": 0, "uid_rates": {CLOSE: 0.5}}, clock=clock)
    assert [slow.check_uid("1", CLOSE) for _ in range(2)] == [None, "uid_endpoint"]
    clock.now += 1.5
    assert slow.check_uid("1", CLOSE) == "uid_endpoint"  # 0.5/s: one per two seconds
    clock.now += 0.5
    assert slow.check_uid("1", CLOSE) is None
    assert limiter.snapshot()["rate_limited"]["uid_endpoint"] == 6


def test_grace_absorbs_arrival_jitter_only() -> None:
    clock = FakeClock()
    limiter = RateLimiter(True, clock=clock)  # default grace 50 ms
    assert limiter.check_uid("1", CLOSE) is None
    clock.now += 0.96  # sent a second apart, arrived 40 ms closer
    assert limiter.check_uid("1", CLOSE) is None
    clock.now += 0.5
    assert limiter.check_uid("1", CLOSE) == "uid_endpoint"


def test_public_limit_is_per_ip_and_endpoint() -> None:
    clock = FakeClock()
    limiter = RateLimiter({"grace_ms": 0}, clock=clock)
    assert [limiter.check_ip("a", TIME) for _ in range(21)] == [None] * 20 + ["public_ip"]
    assert limiter.check_ip("a", "/api/v2/mix/market/tickers") is None
    assert limiter.check_ip("b", TIME) is None
    assert limiter.check_ip("a", ALL_POSITION) is None  # private paths: the UID check decides
    clock.now += 0.5
    assert limiter.check_ip("a", TIME) == "public_ip"
    clock.now += 0.5
    assert [limiter.check_ip("a", TIME) for _ in range(21)] == [None] * 20 + ["public_ip"]


def test_sliding_window_lockout_and_relock_when_hammered() -> None:
    clock = FakeClock()
    limiter = RateLimiter({"ip_per_minute": 3, "lockout_seconds": 5}, clock=clock)
    assert [limiter.check_ip("a", ALL_POSITION) for _ in range(2)] == [None, None]
    clock.now += 30
    assert limiter.check_ip("a", ALL_POSITION) is None
    clock.now += 30  # the first two leave the window
    assert [limiter.check_ip("a", ALL_POSITION) for _ in range(2)] == [None, None]
    assert limiter.snapshot()["ip_requests"] == {"a": 3}
    assert limiter.check_ip("a", ALL_POSITION) == "ip_window"
    assert limiter.check_ip("b", ALL_POSITION) is None
    clock.now += 4.5
    assert [limiter.check_ip("a", TIME) for _ in range(5)] == ["lockout"] * 5
    clock.now += 0.5  # lockout over, but the 5 refused during it still count: locked again
    assert limiter.check_ip("a", TIME) == "ip_window"
    snap = limiter.snapshot()
    assert snap["lockouts_started"] == 2 and snap["rate_limited"]["lockout"] == 5
    assert snap["rate_limited"]["ip_window"] == 2 and list(snap["lockouts"]) == ["a"]
    limiter.reset()
    assert limiter.check_ip("a", TIME) is None and limiter.snapshot()["lockouts"] == {}
    limiter.reset_counters()
    assert limiter.snapshot()["rate_limited"]["total"] == 0


def test_disabled_limiter_keeps_no_state() -> None:
    limiter = RateLimiter(False)
    assert all(limiter.check_ip("a", TIME) is None for _ in range(100))
    assert all(limiter.check_uid("1", CLOSE) is None for _ in range(100))
    assert limiter.snapshot()["ip_requests"] == {} and limiter.snapshot()["rate_limited"]["total"] == 0


def test_config_merge_and_validation() -> None:
    base = LimitConfig()
    assert merge(base, None) == base and merge(base, False).enabled is False
    small = merge(base, {"ip_per_minute": "30", "lockout_seconds": 2, "enabled": "true"})
    assert (small.ip_per_minute, small.lockout_seconds, small.window_seconds) == (30, 2.0, 60.0)
    assert merge(small, {"uid_rates": {PLACE: 1}}).rate_for(PLACE) == 1.0
    assert base.rate_for("/api/v2/mix/order/anything-new") == 10.0
    for bad in ({"ip_per_minute": 0}, {"lockout_seconds": "x"}, {"enabled": "maybe"}, {"window": 1},
                {"public_rate": True}, {"uid_rates": [1]}, {"grace_ms": float("nan")}, "on"):
        with pytest.raises(ValueError):
            merge(base, bad)  # type: ignore[arg-type]


def test_hot_path_is_cheap() -> None:
    limiter = RateLimiter(True)
    started = time.perf_counter()
    for i in range(20_000):
        limiter.check_ip("127.0.0.1", ALL_POSITION)
        limiter.check_uid(str(i % 100), ALL_POSITION)
    assert time.perf_counter() - started < 2.0  # about 2 µs a pair; generous for a loaded machine
