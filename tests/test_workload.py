"""The workload driver: pacing, the uniform pattern surface, stale-read detection, bad input."""

from __future__ import annotations

import pytest

from cachelab.aside import CacheAside
from cachelab.checks import CachelabTypeError, CachelabValueError
from cachelab.read_through import ReadThroughCache
from cachelab.workload import Pattern, run_workload, zipf_weights
from cachelab.write_through import WriteThrough


def test_every_pattern_has_the_uniform_surface(r, db, keys):
    patterns = [CacheAside(r, db, keys.child("a"), ttl=30),
                ReadThroughCache.for_users(r, db, keys.child("b"), ttl=30),
                WriteThrough(r, db, keys.child("c"), ttl=30)]
    for p in patterns:
        assert isinstance(p, Pattern), p
        res = run_workload(p, db, duration_s=0.4, rate=200, threads=2, users=20, write_ratio=0.2)
        s = res.summary()
        assert res.errors == 0 and s["reads"] + s["writes"] == 80
        assert s["writes"] > 0 and res.hits + res.misses == res.reads
        assert res.db_queries > 0 and len(res.db_query_times) >= res.db_queries
        assert res.stale_reads == 0, p.name  # all three invalidate or write on update


def test_stale_reads_are_detected_when_nothing_invalidates(r, db, keys):
    cache = CacheAside(r, db, keys, ttl=30, invalidate=False)
    res = run_workload(cache, db, duration_s=0.6, rate=200, threads=2, users=5, write_ratio=0.3)
    assert res.stale_reads > 0 and all(age >= 0 for age in res.stale_ages_s)


def test_zipf_weights():
    w = zipf_weights(4, 1.0)
    assert w == [1, 1 / 2, 1 / 3, 1 / 4]
    assert zipf_weights(3, 0) == [1, 1, 1]
    with pytest.raises(ValueError):
        zipf_weights(0, 1)
    with pytest.raises(ValueError):
        zipf_weights(3, -1)


@pytest.mark.parametrize("kw, error", [
    ({"duration_s": 0}, CachelabValueError), ({"rate": -1}, CachelabValueError),
    ({"threads": 0}, CachelabValueError), ({"write_ratio": 1.5}, CachelabValueError),
    ({"threads": 2.5}, CachelabTypeError), ({"users": "10"}, CachelabTypeError),
    # inf used to overflow int(rate * duration_s); True passed as 1 thread / 100 % writes
    ({"rate": float("inf")}, CachelabValueError), ({"rate": 1e300}, CachelabValueError),
    ({"rate": True}, CachelabTypeError), ({"threads": True}, CachelabTypeError),
    ({"write_ratio": True}, CachelabTypeError), ({"users": 0}, CachelabValueError)])
def test_bad_settings(r, db, keys, kw, error):
    cache = CacheAside(r, db, keys, ttl=5)
    with pytest.raises(error, match=next(iter(kw))):
        run_workload(cache, db, **kw)
    assert cache.metrics.counters.snapshot().get("db_queries", 0) == 0  # refused before any load


def test_a_pattern_without_the_surface_is_refused(db):
    with pytest.raises(TypeError, match="read"):
        run_workload(object(), db, duration_s=0.1)
