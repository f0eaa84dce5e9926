"""The per-IP request budget: priority classes, the background share, 429 pauses and lockouts."""
from __future__ import annotations

import threading
import time

import pytest
import responses

from app.bitget import budget as budget_module
from app.bitget.budget import ACTION, BACKGROUND, MASTER, BudgetExhausted, RequestBudget, request_priority
from app.bitget.client import BitgetClient
from app.bitget.errors import RateLimitError, RateLimitLockoutError

BASE = "https://bitget.invalid"


def timed(fn) -> float:
    started = time.monotonic()
    fn()
    return time.monotonic() - started


def test_background_never_takes_more_than_its_share_and_never_delays_an_action() -> None:
    budget = RequestBudget(20, 0.3, window_s=0.6)  # background cap: 6 per window
    with request_priority(BACKGROUND):
        for _ in range(6):
            assert budget.acquire() < 0.05
        assert timed(budget.acquire) > 0.4  # the 7th background request waits for the window to move
    for _ in range(12):
        assert budget.acquire() < 0.05  # actions still have the rest of the window at once
    snap = budget.snapshot()
    assert snap.by_class[BACKGROUND] <= 6 and snap.per_minute <= 20


def test_when_the_window_is_full_the_action_goes_before_waiting_background_reads() -> None:
    budget = RequestBudget(4, 0.5, window_s=0.5)
    for _ in range(4):
        budget.acquire()
    order: list[str] = []

    def send(cls: str) -> None:
        with request_priority(cls):
            budget.acquire()
        order.append(cls)

    background = threading.Thread(target=send, args=(BACKGROUND,))
    background.start()
    time.sleep(0.05)  # the background read is already waiting when the action arrives
    action = threading.Thread(target=send, args=(ACTION,))
    master = threading.Thread(target=send, args=(MASTER,))
    action.start()
    master.start()
    for t in (background, action, master):
        t.join(3)
    assert order[0] == ACTION and order.index(MASTER) < order.index(BACKGROUND), order


def test_one_429_among_successes_pauses_nobody_two_in_a_row_pause_everyone() -> None:
    budget = RequestBudget(100, 0.3)
    assert budget.rate_limited() == 0  # an account's own limit: the client retries it with backoff
    budget.answered()
    assert budget.rate_limited() == 0
    assert budget.rate_limited() == budget_module.SHORT_PAUSE_SECONDS  # no success between: pause all
    assert budget.snapshot().paused_until is not None


def test_429s_that_go_on_after_the_pause_are_a_lockout_and_fail_fast(monkeypatch) -> None:
    monkeypatch.setattr(budget_module, "SHORT_PAUSE_SECONDS", 0.05)
    budget = RequestBudget(100, 0.3)
    seen: list[float] = []
    budget.on_lockout = seen.append
    budget.rate_limited()
    budget.rate_limited()
    time.sleep(0.06)
    for _ in range(budget_module.LOCKOUT_STREAK):
        budget.rate_limited()
    assert seen and seen[0] > time.time() + 290  # five minutes
    with pytest.raises(BudgetExhausted):
        budget.acquire()
    assert budget.snapshot().lockout_until is not None
    budget.clear_lockout()
    assert budget.acquire() < 0.05


@responses.activate
def test_the_client_counts_refused_attempts_and_does_not_retry_into_a_lockout(monkeypatch) -> None:
    monkeypatch.setattr(budget_module, "SHORT_PAUSE_SECONDS", 0.01)
    budget = RequestBudget(100, 0.3)
    url = f"{BASE}/api/v2/mix/market/contracts"
    responses.get(url, status=429, json={"code": "429", "msg": "Too Many Requests", "data": None})
    client = BitgetClient(None, BASE, sleep=lambda s: None, server_limiter=budget, max_retries=3)
    with pytest.raises(RateLimitError) as first:
        client.contracts()
    attempts = len(responses.calls)
    assert budget.snapshot().per_minute == attempts  # every attempt counted, refused ones too
    assert budget.limited_count == attempts
    with pytest.raises(RateLimitLockoutError, match="every account blocked until"):
        for _ in range(3):
            client.contracts()
    assert not isinstance(first.value, RateLimitLockoutError)
    sent = len(responses.calls)
    with pytest.raises(RateLimitLockoutError):
        client.contracts()
    assert len(responses.calls) == sent  # nothing at all is sent during the lockout
