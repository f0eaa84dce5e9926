"""Token buckets and the sliding window, driven by a fake clock (nothing really sleeps)."""
from __future__ import annotations

import threading
from decimal import Decimal as D

import pytest

from app.bitget.ratelimit import (
    SHARED_SERVER_LIMITER,
    UID_WINDOW_S,
    AccountRateLimiter,
    EndpointLimits,
    ServerRateLimiter,
    SlidingWindowLimiter,
    TokenBucket,
)

from .conftest import BASE, load, make_client, mock_http


class FakeClock:
    """Monotonic time that only moves when someone sleeps (or the test advances it)."""

    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_token_bucket_allows_burst_then_paces() -> None:
    clock = FakeClock()
    bucket = TokenBucket(5, 5, clock=clock, sleep=clock.sleep)
    assert [bucket.acquire() for _ in range(5)] == [0.0] * 5
    assert bucket.acquire() == pytest.approx(0.2)
    assert bucket.acquire() == pytest.approx(0.2)
    assert clock.now == pytest.approx(100.4)


def test_token_bucket_refills_but_not_beyond_burst() -> None:
    clock = FakeClock()
    bucket = TokenBucket(1, 2, clock=clock, sleep=clock.sleep)
    bucket.acquire(), bucket.acquire()
    clock.now += 60  # a long idle period saves up at most `burst` tokens
    assert [bucket.acquire() for _ in range(2)] == [0.0, 0.0]
    assert bucket.acquire() == pytest.approx(1.0)


def test_token_bucket_concurrent_reservations_queue_up() -> None:
    clock = FakeClock()  # frozen: every thread reserves at the same instant
    bucket = TokenBucket(10, 10, clock=clock, sleep=clock.sleep)
    waits: list[float] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(10):
            wait = bucket.reserve()
            with lock:
                waits.append(wait)

    threads = [threading.Thread(target=worker) for _ in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    expected = [0.0] * 10 + [i / 10 for i in range(1, 41)]  # burst of 10, then one slot every 0.1 s
    assert sorted(waits) == pytest.approx(expected)


def test_token_bucket_rejects_bad_settings() -> None:
    with pytest.raises(ValueError):
        TokenBucket(0, 1)
    with pytest.raises(ValueError):
        SlidingWindowLimiter(0, 1)


def test_sliding_window_caps_every_window() -> None:
    clock = FakeClock()
    window = SlidingWindowLimiter(3, 10, clock=clock, sleep=clock.sleep)
    assert [window.acquire() for _ in range(3)] == [0.0, 0.0, 0.0]
    assert window.acquire() == pytest.approx(10.0)  # waits until the first grant leaves the window
    clock.now += 4  # t=114: the three grants at t=100 have left the window, the one at t=110 has not
    assert [window.acquire(), window.acquire()] == [0.0, 0.0]
    assert window.acquire() == pytest.approx(6.0)  # until t=120, when the t=110 grant expires
    assert window.in_window() == 3


def test_sliding_window_reservations_never_exceed_cap() -> None:
    clock = FakeClock()
    window = SlidingWindowLimiter(50, 60, clock=clock, sleep=clock.sleep)
    slots: list[float] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(40):
            wait = window.reserve()
            with lock:
                slots.append(clock.now + wait)

    threads = [threading.Thread(target=worker) for _ in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    slots.sort()
    assert len(slots) == 200
    assert all(slots[i + 50] - slots[i] >= 60 - 1e-9 for i in range(len(slots) - 50))


def test_endpoint_limits_follow_reference() -> None:
    limits = EndpointLimits()
    mix = "/api/v2/mix"
    expected = {
        f"{mix}/position/all-position": 5, f"{mix}/order/close-positions": 1, f"{mix}/account/set-leverage": 5,
        f"{mix}/account/set-margin-mode": 5, f"{mix}/account/set-position-mode": 5,
        f"{mix}/order/place-order": 10, f"{mix}/order/batch-place-order": 5, f"{mix}/account/account": 10,
        f"{mix}/account/accounts": 10, "/api/v2/spot/account/info": 1, "/api/v2/public/time": 20,
        f"{mix}/market/contracts": 20, f"{mix}/market/tickers": 20, f"{mix}/order/detail": 10,
    }
    assert {path: limits.rate_for(path) for path in expected} == expected
    assert EndpointLimits({f"{mix}/order/place-order": 1}).rate_for(f"{mix}/order/place-order") == 1


def test_account_limiter_keeps_one_bucket_per_endpoint() -> None:
    clock = FakeClock()
    limiter = AccountRateLimiter(clock=clock, sleep=clock.sleep)
    close = "/api/v2/mix/order/close-positions"
    assert limiter.acquire(close) == 0.0
    assert limiter.acquire("/api/v2/mix/order/place-order") == 0.0  # another endpoint, another budget
    assert limiter.acquire(close) == pytest.approx(UID_WINDOW_S)  # a second, and a margin for latency jitter
    assert limiter.bucket(close) is limiter.bucket(close)


def test_server_limiter_defaults_and_public_bucket() -> None:
    clock = FakeClock()
    server = ServerRateLimiter(clock=clock, sleep=clock.sleep)
    assert (server.max_requests, server.window_s) == (5000, 60.0)
    assert sum(server.acquire(public=True) for _ in range(20)) == 0.0
    assert server.acquire(public=True) == pytest.approx(0.05)
    assert server.acquire() == 0.0  # private calls only count against the IP window
    assert (SHARED_SERVER_LIMITER.max_requests, SHARED_SERVER_LIMITER.window_s) == (5000, 60.0)


def test_server_limiter_holds_the_minute_cap() -> None:
    clock = FakeClock()
    server = ServerRateLimiter(5000, 60, clock=clock, sleep=clock.sleep)
    for _ in range(5000):
        server.reserve()
    assert server.acquire() == pytest.approx(60.0)


def test_client_waits_on_its_account_limiter() -> None:
    clock = FakeClock()
    client = make_client(sleep=clock.sleep, rate_limiter=AccountRateLimiter(clock=clock, sleep=clock.sleep))
    with mock_http() as rsps:
        rsps.post(BASE + "/api/v2/mix/order/close-positions", json=load("mix_order_close_positions"))
        rsps.post(BASE + "/api/v2/mix/order/close-positions", json=load("mix_order_close_positions"))
        client.close_positions("BTCUSDT")
        client.close_positions("BTCUSDT")
    assert clock.slept == [pytest.approx(UID_WINDOW_S)]  # close-positions is 1/s per account
    assert client.request_count == 2


def test_client_counts_against_shared_server_window() -> None:
    clock = FakeClock()
    server = ServerRateLimiter(2, 60, clock=clock, sleep=clock.sleep)
    client = make_client(server_limiter=server)
    with mock_http() as rsps:
        rsps.get(BASE + "/api/v2/mix/market/ticker", json=load("mix_market_ticker"))
        for _ in range(3):
            assert client.ticker("BTCUSDT").last_price == D("84492.3")
    assert clock.slept == [pytest.approx(60.0)]
