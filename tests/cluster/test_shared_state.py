"""The state cache in Redis (ENGINE=celery), against a real redis-server: exact Decimals, field-level merges
from two processes, and Redis being down read as "unknown", never as "flat"."""
from __future__ import annotations

import uuid
from decimal import Decimal

import pytest

from app.bitget.models import Position
from app.engine.replication.state import SymbolSettings
from app.store.shared_state import RedisStateCache, ShardStateCache
from app.store.state import StateCache


def position(size: str = "0.123456789", side: str = "long") -> Position:
    return Position(
        symbol="BTCUSDT", margin_coin="USDT", hold_side=side, total=Decimal(size), available=Decimal(size),
        locked=Decimal(0), open_price_avg=Decimal("80000.1"), leverage=10, margin_mode="crossed",
        pos_mode="hedge_mode", margin_size=Decimal("987.65"), unrealized_pl=Decimal("-0.000000001"),
        achieved_profits=Decimal(0), liquidation_price=None, mark_price=Decimal("80001"), take_profit=Decimal("90000"),
        stop_loss=None, take_profit_id="tp-1", stop_loss_id=None, c_time=1700000000000, u_time=None)


@pytest.fixture
def prefix() -> str:
    return f"test:{uuid.uuid4().hex}:"


@pytest.fixture(params=["memory", "redis"])
def cache(request, redis_server, prefix):
    """The same behaviour from both caches."""
    if request.param == "memory":
        return StateCache()
    return RedisStateCache(redis_server.url, prefix)


def test_a_view_comes_back_exactly_as_written(cache):
    cache.record_success(7, read_at=1700000000.123456, positions=(position(), position("2", "short")),
                         equity=Decimal("10000.000000001"), available=Decimal("9000.5"), pos_mode="hedge_mode")
    view = cache.get(7)
    assert view.equity == Decimal("10000.000000001") and isinstance(view.equity, Decimal)
    assert view.positions == (position(), position("2", "short"))
    assert view.fetched_at == 1700000000.123456 and view.error is None and view.auth_failed is False
    assert cache.get(8) is None


def test_an_error_keeps_the_numbers_and_a_success_clears_it(cache):
    cache.record_success(1, equity=Decimal("5"), positions=(position(),))
    cache.record_error(1, "40012 apikey/password is incorrect", auth=True)
    view = cache.get(1)
    assert view.equity == Decimal("5") and view.positions == (position(),)
    assert view.error.startswith("40012") and view.auth_failed and view.error_at is not None
    cache.record_success(1, positions=())
    view = cache.get(1)
    assert view.error is None and view.error_at is None and not view.auth_failed and view.positions == ()
    assert view.equity == Decimal("5")


def test_settings_snapshot_and_forget(cache):
    cache.learn_settings(3, "BTCUSDT", SymbolSettings("isolated", 5, 7))
    cache.learn_settings(3, "ETHUSDT", SymbolSettings("crossed", 10, 10))
    cache.update(3, pos_mode="one_way_mode")
    cache.update(4, equity=Decimal("1"))
    cache.forget_settings(3, "ETHUSDT")
    assert cache.symbol_settings(3) == {"BTCUSDT": SymbolSettings("isolated", 5, 7)}
    snap = cache.snapshot()
    assert set(snap.views) == {3, 4} and snap.get(3).pos_mode == "one_way_mode"
    assert snap.symbol_settings(3) == {"BTCUSDT": SymbolSettings("isolated", 5, 7)} and snap.symbol_settings(4) == {}
    assert set(cache.all()) == {3, 4}
    cache.forget(3)
    assert cache.get(3) is None and cache.symbol_settings(3) == {} and set(cache.all()) == {4}


def test_two_processes_writing_different_fields_of_one_account_keep_both(redis_server, prefix):
    worker, web = RedisStateCache(redis_server.url, prefix), RedisStateCache(redis_server.url, prefix)
    worker.record_success(9, equity=Decimal("100"), positions=(position(),), pos_mode="hedge_mode")
    web.update(9, positions=(position("0.5"),))  # a client stream's push, written by another process
    worker.record_success(9, equity=Decimal("101"), available=Decimal("50"))  # a balance read without positions
    view = web.get(9)
    assert view.equity == Decimal("101") and view.available == Decimal("50")
    assert view.positions == (position("0.5"),) and view.pos_mode == "hedge_mode"


def test_redis_down_reads_as_unknown_and_writes_do_not_raise():
    down = RedisStateCache("redis://127.0.0.1:9/0")  # nothing listens on port 9
    down.record_success(1, equity=Decimal("1"), positions=())
    down.learn_settings(1, "BTCUSDT", SymbolSettings("crossed", 1, 1))
    assert down.get(1) is None  # unknown: never an empty (flat) view
    assert down.snapshot().views == {} and down.symbol_settings(1) == {}
    assert down.problem and "Redis" in down.problem


def test_an_unknown_field_is_refused(redis_server, prefix):
    with pytest.raises(TypeError):
        RedisStateCache(redis_server.url, prefix).update(1, equtiy=Decimal("1"))


def test_a_shard_worker_writes_its_changes_in_batches_and_only_the_fields_it_changed(redis_server, prefix):
    web = RedisStateCache(redis_server.url, prefix)
    worker = ShardStateCache(RedisStateCache(redis_server.url, prefix))
    worker.record_success(5, equity=Decimal("100"), positions=(position(),), pos_mode="hedge_mode")
    worker.learn_settings(5, "BTCUSDT", SymbolSettings("crossed", 20, 20))
    assert worker.get(5).equity == Decimal("100") and web.get(5) is None  # not flushed yet
    assert worker.flush()
    assert web.get(5).equity == Decimal("100") and web.symbol_settings(5) == {"BTCUSDT": SymbolSettings("crossed", 20, 20)}
    web.update(5, positions=(position("0.7"),))  # the web process's own write (a client stream)
    worker.record_success(5, equity=Decimal("101"))
    worker.forget_settings(5, "BTCUSDT")
    worker.flush()
    view = web.get(5)
    assert view.equity == Decimal("101") and view.positions == (position("0.7"),)  # both writes kept
    assert web.symbol_settings(5) == {}


def test_a_shard_worker_loads_an_account_it_has_not_seen_from_the_shared_cache_once(redis_server, prefix):
    web = RedisStateCache(redis_server.url, prefix)
    web.record_success(6, equity=Decimal("7"), pos_mode="one_way_mode")
    web.learn_settings(6, "ETHUSDT", SymbolSettings("isolated", 3, 3))
    worker = ShardStateCache(RedisStateCache(redis_server.url, prefix))
    worker.update(6, positions=())  # a write first: the rest of the view still comes from Redis
    view = worker.get(6)
    assert view.equity == Decimal("7") and view.pos_mode == "one_way_mode" and view.positions == ()
    assert worker.symbol_settings(6) == {"ETHUSDT": SymbolSettings("isolated", 3, 3)}
    web.record_success(6, equity=Decimal("8"))
    assert worker.get(6).equity == Decimal("7")  # loaded once: the worker is the account's reader


def test_a_flush_redis_refused_goes_again_with_the_next_one(redis_server, prefix):
    worker = ShardStateCache(RedisStateCache("redis://127.0.0.1:9/0", prefix))
    worker.record_success(4, equity=Decimal("3"))
    assert worker.flush() is False and worker.problem
    worker.shared = RedisStateCache(redis_server.url, prefix)  # Redis is back
    assert worker.flush() is True
    assert RedisStateCache(redis_server.url, prefix).get(4).equity == Decimal("3")
