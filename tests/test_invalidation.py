"""Invalidation building blocks against the real Redis: local cache, TTL, tags, versions, safety."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cachelab.codec import CodecError
from cachelab.invalidation import (
    MISSING,
    CountingRedis,
    LocalCache,
    TagCache,
    VersionedCache,
    adaptive_ttl,
    brief_pattern,
    delete_by_raw_pattern,
    invalidate_entity,
    run_adaptive,
    run_avalanche,
    store_if_newer,
)
from cachelab.invalidation.events import decode_event, encode_event
from cachelab.invalidation.tags import measure_tag_cost

from .waiting import until

# -- the local cache ------------------------------------------------------------------------

def test_local_cache_refuses_a_fill_that_raced_an_invalidation():
    cache = LocalCache()
    token = cache.begin("k")
    cache.invalidate("k")                  # the event arrives while the reader is fetching
    assert cache.fill("k", "old", token) is False
    assert cache.get("k") is MISSING
    token = cache.begin("k")
    cache.flush()
    assert cache.fill("k", "old", token) is False
    assert cache.fill("k", "new", cache.begin("k")) is True and cache.get("k") == "new"


def test_local_cache_keeps_none_and_expires_by_its_ttl_backstop():
    cache = LocalCache(ttl=0.05)
    cache.fill("k", None, cache.begin("k"))
    assert cache.get("k") is None          # a cached None is a hit, not a miss
    assert until(lambda: cache.get("k") is MISSING, 2.0)


@pytest.mark.parametrize("bad", [-1, 0, float("nan"), "10"])
def test_local_cache_rejects_bad_ttls(bad):
    with pytest.raises((TypeError, ValueError)):
        LocalCache(ttl=bad)


# -- TTL ------------------------------------------------------------------------------------

def test_jitter_lowers_the_peak_of_database_queries_after_a_synchronized_write(r, keys, db):
    db.latency_ms = 20  # the simulated round trip makes the database the bottleneck
    fixed = run_avalanche(r, db, keys, n_keys=150, ttl=1.0, spread=0.0, readers=12,
                          reads_per_s=100)
    spread = run_avalanche(r, db, keys, n_keys=150, ttl=1.0, spread=0.5, readers=12,
                           reads_per_s=100)
    assert fixed["queries"] > 0 and spread["queries"] > 0
    assert spread["peak_qps"] < fixed["peak_qps"]
    assert spread["window_s"] > fixed["window_s"]  # the same refills, spread over more time


def test_adaptive_ttl_follows_the_brief_rule_and_rejects_bad_counts():
    assert adaptive_ttl(5) == 300 and adaptive_ttl(101) == 1800 and adaptive_ttl(5000) == 3600
    assert adaptive_ttl(5000, time_scale=1 / 600) == pytest.approx(6.0)
    with pytest.raises(ValueError):
        adaptive_ttl(-1)


def test_adaptive_ttl_costs_an_incr_per_read_and_serves_hot_keys_longer_stale(r, keys, db):
    db.latency_ms = 1
    fixed = run_adaptive(r, db, keys, policy="fixed", duration=2.0, n_keys=30, write_rate=30)
    adaptive = run_adaptive(r, db, keys, policy="adaptive", duration=2.0, n_keys=30,
                            write_rate=30)
    assert adaptive["redis_ops_per_read"] > fixed["redis_ops_per_read"] + 0.9
    assert adaptive["mean_ttl_s"] > fixed["mean_ttl_s"]


# -- tags -----------------------------------------------------------------------------------

def test_tag_invalidation_deletes_exactly_the_tagged_keys(r, keys):
    tags = TagCache(r, keys, ttl=60)
    tags.set(("user", 1, "profile"), {"v": 1}, tags=["user:1"])
    tags.set(("user", 1, "orders"), [1, 2], tags=["user:1", "orders"])
    tags.set(("user", 2, "profile"), {"v": 1}, tags=["user:2"])
    tags.set(("user", 10, "profile"), {"v": 1}, tags=["user:10"])
    assert tags.invalidate("user:1") == 2
    assert tags.get("user", 1, "profile") is MISSING and tags.get("user", 1, "orders") is MISSING
    assert tags.get("user", 2, "profile") == {"v": 1}
    assert tags.get("user", 10, "profile") == {"v": 1}
    assert not r.exists(tags.tag_key("user:1"))      # the tag set is cleaned up too
    assert tags.invalidate("orders") == 0           # its member is already gone
    assert tags.invalidate("no-such-tag") == 0


def test_tag_set_outlives_its_newest_member(r, keys):
    tags = TagCache(r, keys, ttl=5)
    tags.set(("a",), 1, tags=["t"], ttl=100)
    tags.set(("b",), 1, tags=["t"], ttl=5)          # a shorter TTL must not shorten the set's
    assert r.ttl(tags.tag_key("t")) > 50


def test_tag_cost_grows_with_tag_size(r, keys):
    rows = measure_tag_cost(r, keys, [10, 1000], repeats=1)
    assert [row["tag_size"] for row in rows] == [10, 1000]
    assert rows[1]["tag_set_bytes"] > rows[0]["tag_set_bytes"]


def test_tag_cache_rejects_bad_input(r, keys):
    with pytest.raises(ValueError):
        TagCache(r, keys, ttl=-5)
    tags = TagCache(r, keys)
    with pytest.raises(CodecError):  # JSON only, with a message that says what to convert
        tags.set(("k",), object(), tags=["t"])
    with pytest.raises(TypeError, match="list of tag names"):
        tags.set(("k",), 1, tags="user:1")  # would have tagged it u, s, e, r, ...
    with pytest.raises(TypeError, match="as a tuple"):
        tags.set("user:1", 1, tags=["t"])
    with pytest.raises(TypeError):
        tags.set(("user", None), 1, tags=["t"])
    assert not any(True for _ in r.scan_iter(match=keys.prefix + ":*"))  # nothing half-written


def test_versioned_cache_rejects_bad_input(r, keys):
    cache = VersionedCache(r, keys, ttl=60)
    for bad in (None, "1", -1, True, 1.5):
        with pytest.raises(ValueError, match="version"):
            cache.set(("user", 1), {"v": 1}, version=bad)
    with pytest.raises(TypeError, match="as a tuple"):
        cache.set("user:1", {"v": 1}, version=0)
    with pytest.raises(ValueError):
        VersionedCache(r, keys, ttl=0)
    assert cache.leftover()["live_keys"] == 0


# -- versions -------------------------------------------------------------------------------

def test_version_bump_makes_old_values_unreachable_and_they_expire(r, keys):
    cache = VersionedCache(r, keys, ttl=1)
    for uid in range(20):
        v, value = cache.get("user", uid)
        assert value is MISSING
        cache.set(("user", uid), {"uid": uid}, version=v)
    assert cache.get("user", 3) == (0, {"uid": 3})
    assert cache.bump() == 1
    assert cache.get("user", 3) == (1, MISSING)      # unreachable, though still in memory
    left = cache.leftover()
    assert left["old_keys"] == 20 and left["old_bytes"] > 0 and left["live_keys"] == 0
    assert until(lambda: cache.leftover()["old_keys"] == 0, 10.0)  # Redis expires them


def test_a_value_computed_before_a_bump_lands_under_the_old_version(r, keys):
    cache = VersionedCache(r, keys, ttl=30)
    v, _ = cache.get("user", 1)       # reader takes the version, then queries the database
    cache.bump()                      # a write happens meanwhile
    cache.set(("user", 1), {"old": True}, version=v)
    assert cache.get("user", 1)[1] is MISSING   # the late, old value is unreachable


# -- version-guarded writes, counting, events -----------------------------------------------

def test_store_if_newer_never_goes_back_a_version(r, keys):
    key = keys("row")
    assert store_if_newer(r, key, {"id": 1, "version": 2}, 30)
    assert not store_if_newer(r, key, {"id": 1, "version": 1}, 30)
    assert not store_if_newer(r, key, {"id": 1, "version": 2}, 30)
    assert store_if_newer(r, key, {"id": 1, "version": 3}, 30)
    with pytest.raises(ValueError):
        store_if_newer(r, key, {"id": 1}, 30)


def test_counting_client_counts_plain_and_pipelined_commands(redis_url, keys):
    c = CountingRedis.from_url(redis_url)
    c.set(keys("a"), 1)
    pipe = c.pipeline()
    pipe.get(keys("a"))
    pipe.incr(keys("b"))
    pipe.execute()
    assert c.total_ops == 3 and c.ops["SET"] == 1
    c.close()


def test_event_encoding_rejects_a_bare_string():
    assert decode_event(encode_event(["a", "b"]))["keys"] == ["a", "b"]
    with pytest.raises(TypeError):
        encode_event("user:1")
    with pytest.raises(ValueError):
        decode_event(b'{"nokeys": 1}')


# -- glob safety ----------------------------------------------------------------------------

def test_the_brief_pattern_over_deletes(r, keys):
    for uid in ("4", "42", "400", "5"):
        r.set(keys("user", uid), 1)
    # The brief's f"user:{id}*": id 4 also takes users 42 and 400; id "*" takes everyone.
    assert delete_by_raw_pattern(r, brief_pattern(keys, "user", 4)) == 3
    assert delete_by_raw_pattern(r, brief_pattern(keys, "user", "*")) == 1


GLOBBY = st.text(alphabet=st.sampled_from(list("*?[]\\^-:%ab4")), min_size=1, max_size=6)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(target=GLOBBY, others=st.lists(GLOBBY, min_size=1, max_size=5, unique=True))
def test_entity_invalidation_never_over_deletes(r, keys, target, others):
    others = [o for o in others if o != target]
    ids = [target, *others]
    k = keys.child("prop")
    for uid in ids:
        for name in (k("user", uid), k("user", uid, "profile"), k("user", uid, "orders")):
            r.set(name, 1)
    r.set(k("user", target + "x"), 1)   # a longer id with the same beginning
    try:
        assert invalidate_entity(r, k, "user", target) == 3
        assert not r.exists(k("user", target), k("user", target, "profile"))
        for uid in others:
            assert r.exists(k("user", uid), k("user", uid, "profile"),
                            k("user", uid, "orders")) == 3, f"{target!r} deleted {uid!r}'s keys"
        assert r.exists(k("user", target + "x")) == 1
    finally:
        from cachelab.keys import delete_prefix
        delete_prefix(r, k)


def test_invalidation_never_sends_keys(private_redis, tmp_path):
    from cachelab import Keys

    pr = private_redis.client()
    k = Keys("07").child("nokeys")
    pr.set(k("user", "*", "profile"), 1)
    invalidate_entity(pr, k, "user", "*")
    tags = TagCache(pr, k)
    tags.set(("x",), 1, tags=["t"])
    tags.invalidate("t")
    VersionedCache(pr, k).leftover()
    stats = pr.info("commandstats")
    assert "cmdstat_keys" not in stats and "cmdstat_scan" in stats
