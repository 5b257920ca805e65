"""Versioned fills and tombstones: an older row never replaces a newer one, on the real server."""

from __future__ import annotations

import time

import pytest

from cachelab import dumps
from cachelab.breaker import CircuitBreaker, fast_fail_client
from cachelab.faults import hung
from cachelab.rowcache import DOWN, MISS, RowCache


def row(version, **extra):
    return {"id": 1, "name": "Ada", "version": version, **extra}


@pytest.fixture
def store(r, keys):
    return RowCache(r, keys, ttl=30, spread=0)


def test_fill_then_lookup(store):
    key = store.key(1)
    assert store.lookup(key) is MISS
    assert store.fill(key, row(1))
    assert store.lookup(key) == row(1)


def test_older_version_never_replaces_newer(store):
    key = store.key(1)
    assert store.put(key, row(3), 3) == "stored"
    assert store.put(key, row(2), 2) == "refused"
    assert store.put(key, row(3), 3) == "refused"  # same version: nothing to do
    assert store.put(key, row(4), 4) == "stored"
    assert store.lookup(key)["version"] == 4


def test_tombstone_blocks_older_fill_but_not_the_same_version(store):
    key = store.key(1)
    store.fill(key, row(1), 1)
    assert store.invalidate(key, 2)
    assert store.raw(1) == "tombstone"
    assert store.lookup(key) is MISS
    assert store.fill(key, row(1), 1) is False      # the stale reader is refused
    assert store.fill(key, row(2), 2) is True       # a reader that saw the write fills
    assert store.invalidate(key, 2) and store.raw(1)["version"] == 2  # older/equal tomb: no-op


def test_foreign_bytes_are_a_miss_and_get_overwritten(r, store):
    key = store.key(1)
    r.set(key, b"\x80not json")
    assert store.lookup(key) is MISS
    assert store.metrics.counters["decode_errors"] == 1
    assert store.fill(key, row(1), 1)
    assert store.lookup(key) == row(1)


def test_negative_entries_only_when_enabled(r, keys):
    off = RowCache(r, keys.child("off"), ttl=30)
    assert off.fill(off.key(9), None) is False and off.lookup(off.key(9)) is MISS
    on = RowCache(r, keys.child("on"), ttl=30, negative_ttl=5)
    assert on.fill(on.key(9), None) is True
    assert on.lookup(on.key(9)) is None and on.raw(9) == "negative"
    assert 0 < r.pttl(on.key(9)) <= 5500
    assert on.invalidate(on.key(9), 1)  # the row was created: version 1 beats "missing" (0)
    assert on.fill(on.key(9), None) is False  # a reader that saw "missing" earlier is refused


def test_jitter_scatters_ttls(r, store, keys):
    jittery = RowCache(r, keys.child("j"), ttl=100, spread=0.2)
    ttls = set()
    for i in range(40):
        jittery.fill(jittery.key(i), row(1), 1)
        ttls.add(r.pttl(jittery.key(i)))
    assert len(ttls) > 20
    assert min(ttls) >= 79_000 and max(ttls) <= 120_000


def test_oom_refuses_the_write_and_invalidate_falls_back_to_del(private_redis, keys):
    from cachelab import Keys
    r = fast_fail_client(private_redis.url)
    store = RowCache(r, Keys("t"), ttl=30, spread=0)
    key = store.key(1)
    store.fill(key, row(1), 1)
    admin = private_redis.client()
    admin.config_set("maxmemory-policy", "noeviction")
    admin.config_set("maxmemory", 1)
    try:
        assert store.put(key, row(2), 2) == "failed"
        assert store.invalidate(key, 2) is True      # tombstone refused, DEL allowed
        assert admin.exists(key) == 0
        assert store.breaker.state == "closed"       # Redis answered: not an outage
    finally:
        admin.config_set("maxmemory", 0)


def test_unreachable_invalidation_is_remembered_and_replayed(private_redis):
    from cachelab import Keys
    r = fast_fail_client(private_redis.url, timeout=0.2)
    store = RowCache(r, Keys("t"), ttl=30, spread=0,
                     breaker=CircuitBreaker(threshold=1, reset_after=0.05))
    key = store.key(1)
    store.fill(key, row(1), 1)
    with hung(private_redis):  # hung, not dead: the old row is still in memory
        assert store.invalidate(key, 2) is False
        assert store.pending == {key: 2}
        assert store.lookup(key) is DOWN  # this process no longer trusts the key
    deadline = time.monotonic() + 10
    while store.pending and time.monotonic() < deadline:
        store.lookup(key)  # after reset_after the breaker lets a probe through, which replays
        time.sleep(0.01)
    assert store.pending == {}
    assert store.raw(1) in ("tombstone", None)
    assert store.metrics.counters["invalidations_replayed"] == 1


def test_bad_input(store, r, keys):
    for bad in (None, "1", 1.0, True):
        with pytest.raises(TypeError, match="must be an int"):
            store.key(bad)
    with pytest.raises(ValueError):
        RowCache(r, keys, ttl=-1)
    with pytest.raises(ValueError):
        RowCache(r, keys, ttl=10, negative_ttl=0)
    with pytest.raises(ValueError):
        RowCache(r, keys, ttl=10, spread=1.5)
    with pytest.raises(TypeError):
        RowCache(r, "cachelab:x", ttl=10)
    from cachelab.codec import CodecError
    with pytest.raises(CodecError):
        store.fill(store.key(1), {"when": object()})
    with pytest.raises(CodecError):
        store.fill(store.key(1), {"nan": float("nan")})
    assert dumps(row(1))  # a real row is fine
