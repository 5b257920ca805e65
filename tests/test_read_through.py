"""Read-through: the cache owns loading; concurrent misses of one key make one database query."""

from __future__ import annotations

import threading
import time

import pytest

from cachelab import Keys, workload
from cachelab.aside import race_once
from cachelab.breaker import CircuitBreaker, fast_fail_client
from cachelab.codec import CodecError
from cachelab.read_through import ReadThroughCache

MISSING = 10_000_000


def burst(fn, n, *args):
    """fn(*args) from n threads released together (cachelab.workload.burst); their results."""
    return workload.burst(fn, n, *args)[0]


def test_loads_once_then_hits(r, db, keys):
    cache = ReadThroughCache.for_users(r, db, keys, ttl=30)
    assert [cache.get(5) for _ in range(4)] == [db.get_user(5)] * 4
    c = cache.metrics.counters
    assert (c["misses"], c["hits"], c["db_queries"]) == (1, 3, 1)


def test_concurrent_misses_make_one_query(r, db, keys):
    db.latency_ms = 50  # the leader's query is in flight while the others arrive
    cache = ReadThroughCache.for_users(r, db, keys.child("sf"), ttl=30)
    rows = burst(cache.get, 40, 9)
    assert all(row == rows[0] for row in rows) and rows[0]["id"] == 9
    assert cache.metrics.counters["db_queries"] == 1
    assert cache.flight.executions == 1 and cache.flight.shared >= 1
    rows[0]["name"] = "changed"  # followers got copies: no caller sees another's mutation
    assert rows[1]["name"] != "changed"

    without = ReadThroughCache.for_users(r, db, keys.child("plain"), ttl=30, single_flight=False)
    burst(without.get, 40, 9)
    assert without.metrics.counters["db_queries"] > 1


def test_loader_error_reaches_every_waiter_and_is_not_cached(r, keys):
    calls = []
    gate = threading.Event()

    def flaky(item_id):
        calls.append(item_id)
        if len(calls) == 1:
            gate.wait(0.2)
            raise RuntimeError("database unavailable")
        return {"id": item_id, "version": 1}

    cache = ReadThroughCache(r, keys, flaky, ttl=30)

    def attempt(item_id):
        try:
            return cache.get(item_id)
        except RuntimeError as exc:
            return str(exc)

    results = burst(attempt, 8, 1)
    assert results.count("database unavailable") == 8 and len(calls) == 1
    assert cache.get(1) == {"id": 1, "version": 1} and len(calls) == 2


def test_get_many_batches_the_misses_into_one_query(r, db, keys):
    cache = ReadThroughCache.for_users(r, db, keys, ttl=30, negative_ttl=5)
    cache.get(1)
    before = db.query_count
    out = cache.get_many([1, 2, 3, 4, MISSING, 2])
    assert db.query_count - before == 1
    assert set(out) == {1, 2, 3, 4, MISSING} and out[MISSING] is None
    assert out[3] == db.get_user(3)
    before = db.query_count
    assert cache.get_many([1, 2, 3, 4, MISSING]) == out
    assert db.query_count == before


def test_write_invalidates_and_race_is_fixed(r, db, keys):
    cache = ReadThroughCache.for_users(r, db, keys, ttl=30)
    cache.get(3)
    new = cache.write(3, plan="team")
    assert cache.get(3) == new
    out = race_once(cache, 4)  # the cache-aside race, played through the loader's fill
    assert out["reader_loaded"] < out["writer_committed"]
    assert out["stale"] is False and out["next_read_version"] == out["db_version"]


def test_reads_keep_working_with_redis_stopped(private_redis, db):
    cache = ReadThroughCache.for_users(fast_fail_client(private_redis.url, timeout=0.2), db,
                                       Keys("t"), ttl=30,
                                       breaker=CircuitBreaker(threshold=2, reset_after=0.1))
    for uid in range(1, 6):
        cache.get(uid)
    private_redis.stop()
    assert [cache.get(uid) for uid in range(1, 6)] == [db.get_user(uid) for uid in range(1, 6)]
    assert cache.get_many([1, 2]) == {1: db.get_user(1), 2: db.get_user(2)}
    private_redis.start()
    deadline = time.monotonic() + 10
    hits = cache.metrics.counters["hits"]
    while cache.metrics.counters["hits"] == hits and time.monotonic() < deadline:
        cache.get(1)
        time.sleep(0.02)
    assert cache.metrics.counters["hits"] > hits


def test_bad_input(r, db, keys):
    with pytest.raises(TypeError):
        ReadThroughCache(r, keys, "not a function", ttl=5)
    with pytest.raises(ValueError):
        ReadThroughCache(r, keys, db.get_user, ttl=0)
    cache = ReadThroughCache(r, keys, lambda i: {"when": {1, 2}}, ttl=5)
    with pytest.raises(CodecError, match="loader returned"):
        cache.get(1)
    with pytest.raises(TypeError, match="must be an int"):
        cache.get(None)
    with pytest.raises(TypeError, match="no writer"):
        cache.write(1, plan="pro")
    users = ReadThroughCache.for_users(r, db, keys.child("u"), ttl=5)
    with pytest.raises(TypeError, match="must be a str"):
        users.write(1, plan=None)
    with pytest.raises(TypeError, match="iterable of int ids"):
        users.get_many(None)
    with pytest.raises(TypeError, match="many_loader must be a function"):
        ReadThroughCache(r, keys, db.get_user, ttl=5, many_loader=1)
