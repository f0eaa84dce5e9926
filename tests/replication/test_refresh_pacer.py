"""Client refreshes are paced within the background share: the interval stretches with the number of clients,
and each second refreshes an even slice (never all clients in one burst)."""
from __future__ import annotations

import pytest

from app import create_app
from tests.conftest import add_account, app_config, shutdown


@pytest.fixture
def budgeted(tmp_path, sim):
    application = create_app(app_config(tmp_path, sim.url, BITGET_IP_LIMIT_PER_MINUTE=5700,
                                        BACKGROUND_BUDGET_SHARE=0.3, CLIENT_REFRESH_SECONDS=15))
    yield application
    shutdown(application)


def test_the_interval_stretches_with_the_number_of_clients_within_the_background_share(budgeted):
    pacer = budgeted.extensions["refresh_pacer"]
    per_second = 5700 * 0.3 / 60  # the background share of the budget
    for clients in (3, 50, 200, 500, 1000):
        interval = pacer.interval_for(clients, 2)
        assert interval >= 15
        assert clients * 2 / interval <= per_second  # background requests per second stay within the share
    assert pacer.interval_for(3, 2) == 15  # few clients: the configured interval
    assert pacer.interval_for(1000, 2) > pacer.interval_for(500, 2) > 40  # many: read less often, not more


def test_each_tick_refreshes_an_even_slice_in_turn(budgeted, sim):
    ids = [add_account(budgeted, sim, f"C{i:02d}", balance="1000") for i in range(30)]
    pacer = budgeted.extensions["refresh_pacer"]
    seen: list[int] = []
    for _ in range(15):  # 15 ticks of one second = one interval
        batch = pacer.tick()
        assert len(batch) <= 3  # 30 clients over 15 s: two a second, never a burst
        seen += batch
    assert sorted(seen) == ids  # every client once per interval
    cache = budgeted.extensions["state"]
    assert all(cache.get(i) is not None and cache.get(i).equity is not None for i in ids)
    status = budgeted.extensions["refresh_pacer"].status()
    assert status == {"client_refresh_interval_s": 15.0, "clients": 30}


def test_the_budget_in_use_is_on_healthz_and_in_the_state(budgeted, sim):
    add_account(budgeted, sim, "Master", role="master", balance="1000")
    add_account(budgeted, sim, "A", balance="1000")
    from app.feeds.refresh import refresh_accounts
    from tests.conftest import operator_client

    refresh_accounts(budgeted, clients_only=True)  # client refreshes count as background reads

    health = budgeted.test_client().get("/healthz").json["request_budget"]
    assert health["enabled"] and health["limit_per_minute"] == 5700
    assert health["requests_last_minute"] >= 2 and health["by_class"]["background"] >= 2
    assert health["pct_of_exchange_limit"] == round(100 * health["requests_last_minute"] / 6000, 1)
    assert health["client_refresh_interval_s"] == 15.0
    state = operator_client(budgeted).get("/api/state").json
    assert state["budget"]["background_cap_per_minute"] == 1710


def test_an_action_on_many_clients_queues_their_refresh_at_the_budgets_pace(budgeted, sim):
    from app.feeds.refresh import refresh_soon

    ids = [add_account(budgeted, sim, f"C{i:02d}", balance="1000") for i in range(30)]
    budget = budgeted.extensions["gateway"].budget
    from app.bitget.budget import BACKGROUND, request_priority

    with request_priority(BACKGROUND):  # the background share is nearly used up
        for _ in range(int(budget.background_cap * 0.8) - 10):
            budget.acquire()
    refresh_soon(budgeted, ids)  # 60 requests do not fit now: queued, not sent in a burst
    assert not budgeted.extensions.get("background_tasks")
    pacer = budgeted.extensions["refresh_pacer"]
    first = pacer.tick()
    assert first and first == ids[:len(first)]  # the changed clients come first, a slice at a time
