"""Trace replay through a real, private Redis: counts are exact, eviction happens, settings come back."""

from __future__ import annotations

import pytest

from cachelab import Keys
from cachelab.eviction import simulate, zipf
from cachelab.eviction.redis_replay import (
    eviction_settings,
    read_settings,
    replay,
    run_policies,
)


@pytest.fixture
def server(private_redis):
    client = private_redis.client()
    yield client
    client.close()


def test_replay_without_a_limit_misses_only_first_references(server):
    trace = zipf(5_000, 800, 1.0, seed=2)
    result = replay(server, trace, Keys("test").child("replay", "nolimit"), batch=50)
    assert result["requests"] == len(trace)
    assert result["hits"] == len(trace) - len(set(trace))  # a cache that never evicts
    assert result["evicted"] == 0


def test_run_policies_evicts_restores_settings_and_tracks_lru(server):
    before = read_settings(server)
    trace = zipf(30_000, 4_000, 0.9, seed=4)
    rows = run_policies(server, trace, Keys("test").child("replay", "policies"), 400,
                        [("allkeys-lru", 10), ("allkeys-lfu", 5)])
    assert read_settings(server) == before
    assert server.dbsize() == 0  # the replay cleans up its keys
    for row in rows:
        assert row["evicted"] > 0
        assert 0.7 * 400 <= row["capacity_held"] <= 1.3 * 400
        exact = simulate("LRU", trace, row["capacity_held"]).hit_ratio
        # A real cache of the same size on the same trace: close to exact LRU, not equal.
        assert 0.5 * exact < row["hit_ratio"] < exact + 0.15


def test_settings_are_restored_when_the_replay_fails_midway(server):
    before = read_settings(server)
    keys = Keys("test").child("replay", "fails")
    with pytest.raises(TypeError, match="trace keys must be ints"):
        with eviction_settings(server, maxmemory=50 * 2**20, policy="allkeys-lru", samples=3):
            assert read_settings(server)["maxmemory-policy"] == "allkeys-lru"
            replay(server, [1, 2, 3, "oops", 4], keys, batch=2)
    assert read_settings(server) == before


def test_bad_limits_are_refused_before_anything_changes(server):
    before = read_settings(server)
    with pytest.raises(ValueError, match="maxmemory"):
        with eviction_settings(server, maxmemory=0, policy="allkeys-lru"):
            pass
    assert read_settings(server) == before
    with pytest.raises(ValueError, match="batch"):
        replay(server, [1], Keys("test").child("replay", "batch"), batch=0)
    with pytest.raises(ValueError, match="capacity"):
        run_policies(server, [1, 2], Keys("test").child("replay", "cap"), "400", [])
    assert read_settings(server) == before
