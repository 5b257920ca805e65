"""Cache-aside and @cached against the real Redis: hits, TTL, negative caching, the race, outages."""

from __future__ import annotations

import time

import pytest
import redis

from cachelab import Keys
from cachelab.aside import CacheAside, cached, race_once, shared_client
from cachelab.breaker import CircuitBreaker, fast_fail_client
from cachelab.codec import CodecError
from cachelab.faults import hung, outage_drill
from cachelab.workload import run_workload

MISSING = 10_000_000  # no such user


def test_miss_then_hits_one_query(r, db, keys):
    cache = CacheAside(r, db, keys, ttl=30)
    rows = [cache.get(7) for _ in range(5)]
    assert all(row == db.get_user(7) for row in rows)
    c = cache.metrics.counters
    assert (c["misses"], c["hits"], c["db_queries"]) == (1, 4, 1)
    assert len(cache.metrics.latency("read")) == 5


def test_update_invalidates_and_next_read_is_fresh(r, db, keys):
    cache = CacheAside(r, db, keys, ttl=30)
    cache.get(7)
    new = cache.update(7, plan="team", country="FR")
    assert cache.store.raw(7) == "tombstone"
    assert cache.get(7) == new == db.get_user(7)
    assert cache.update(MISSING, plan="pro") is None


def test_hit_ratio_rises_with_ttl(r, db, keys):
    ratios = []
    for ttl in (0.05, 0.5, 5.0):
        cache = CacheAside(r, db, keys.child(f"ttl{ttl}"), ttl=ttl)
        res = run_workload(cache, db, duration_s=1.2, rate=250, threads=4, users=100,
                           write_ratio=0.0, seed=1)
        assert res.errors == 0
        ratios.append(res.hit_ratio)
    assert ratios[0] < ratios[1] < ratios[2], ratios
    assert ratios[2] - ratios[0] > 0.2, ratios


def test_ttl_only_freshness_serves_stale_reads_invalidation_does_not(r, db, keys):
    stale = {}
    for invalidate in (False, True):
        cache = CacheAside(r, db, keys.child(str(invalidate)), ttl=5, invalidate=invalidate)
        res = run_workload(cache, db, duration_s=1.0, rate=250, threads=4, users=30,
                           write_ratio=0.1, seed=2)
        assert res.errors == 0 and res.writes > 0
        stale[invalidate] = res.stale_reads
    assert stale[False] > 0
    assert stale[True] == 0


def test_negative_caching_stops_repeated_queries_for_a_missing_id(r, db, keys):
    plain = CacheAside(r, db, keys.child("plain"), ttl=30)
    for _ in range(20):
        assert plain.get(MISSING) is None
    assert plain.metrics.counters["db_queries"] == 20  # penetration: every read hits the DB

    guarded = CacheAside(r, db, keys.child("neg"), ttl=30, negative_ttl=5)
    for _ in range(20):
        assert guarded.get(MISSING) is None
    c = guarded.metrics.counters
    assert c["db_queries"] == 1 and c["negative_hits"] == 19


def test_creating_the_row_replaces_the_negative_entry(r, db, keys):
    cache = CacheAside(r, db, keys, ttl=30, negative_ttl=30)
    new_id = 5000
    assert cache.get(new_id) is None and cache.store.raw(new_id) == "negative"
    row = cache.create("Grace Hopper", "grace@example.com", user_id=new_id)
    assert cache.get(new_id) == row


def test_race_reproduced_without_the_fix(r, db, keys):
    naive = CacheAside(r, db, keys, ttl=30, versioned=False)
    out = race_once(naive, 11)
    assert out["reader_loaded"] < out["writer_committed"] == out["db_version"]
    assert out["stale"] is True
    assert out["next_read_version"] < out["db_version"]  # and readers keep getting it


def test_race_gone_with_versioned_fills(r, db, keys):
    fixed = CacheAside(r, db, keys, ttl=30)
    out = race_once(fixed, 11)
    assert out["reader_loaded"] < out["writer_committed"]
    assert out["stale"] is False and out["cache_holds"] == "tombstone"
    assert out["next_read_version"] == out["db_version"]
    assert fixed.metrics.counters["fills_refused"] == 1


def test_ttl_jitter_on_fills(r, db, keys):
    cache = CacheAside(r, db, keys, ttl=100, spread=0.2)
    for uid in range(1, 41):
        cache.get(uid)
    ttls = {r.pttl(cache.store.key(uid)) for uid in range(1, 41)}
    assert len(ttls) > 20 and min(ttls) >= 79_000 and max(ttls) <= 120_000


def outage_reads(cache, db, n):
    """n reads of ids 1..10; every one must return the database's row."""
    for i in range(n):
        uid = 1 + i % 10
        assert cache.get(uid) == db.get_user(uid)


def test_reads_keep_working_with_redis_stopped_and_caching_resumes(private_redis, db):
    breaker = CircuitBreaker(threshold=3, reset_after=0.1)
    cache = CacheAside(fast_fail_client(private_redis.url, timeout=0.2), db, Keys("t"), ttl=30,
                       breaker=breaker)
    outage_reads(cache, db, 20)
    assert cache.metrics.counters["hits"] == 10

    private_redis.stop()
    before = cache.metrics.counters.snapshot()
    outage_reads(cache, db, 200)  # no exception, every row correct
    during = cache.metrics.counters.snapshot()
    assert during["fallbacks"] - before.get("fallbacks", 0) == 200
    attempts = during["redis_errors"] - before.get("redis_errors", 0)
    skipped = during["redis_skipped"] - before.get("redis_skipped", 0)
    assert breaker.opened >= 1
    assert skipped > attempts  # the breaker, not a timeout per read, answers most reads

    private_redis.start()  # an empty server on the same port
    deadline = time.monotonic() + 10
    while cache.metrics.counters["hits"] == during["hits"] and time.monotonic() < deadline:
        cache.get(1)  # waiting for the breaker's probe: no restart of anything by hand
        time.sleep(0.02)
    assert cache.metrics.counters["hits"] > during["hits"]
    assert breaker.state == "closed"


def test_hung_redis_costs_at_most_threshold_timeouts_per_window(private_redis, db):
    breaker = CircuitBreaker(threshold=2, reset_after=60)
    cache = CacheAside(fast_fail_client(private_redis.url, timeout=0.1), db, Keys("t"), ttl=30,
                       breaker=breaker)
    outage_reads(cache, db, 10)
    with hung(private_redis):  # SIGSTOP, and wait until the kernel reports it stopped
        outage_reads(cache, db, 50)
    c = cache.metrics.counters
    assert c["redis_errors"] == 2       # two reads waited for the timeout...
    assert c["redis_skipped"] == 48     # ...the other 48 went straight to the database


def test_default_client_retries_cost_more_attempts(private_redis):
    # redis.Redis(host, port) retries with exponential backoff by default (10 times in
    # redis-py 8); the notebook times what that costs. The test checks the configuration.
    brief = redis.Redis(host="127.0.0.1", port=private_redis.port)
    assert brief.get_retry().get_retries() >= 3
    ours = fast_fail_client(private_redis.url)
    assert ours.connection_pool.connection_kwargs["retry"].get_retries() == 0


def brief_style_cached(url, ttl):
    """The brief's decorator shape: a new client for every call."""
    import json

    def decorate(fn):
        def wrapper(user_id):
            client = redis.Redis.from_url(url)
            key = f"cachelab:t:brief:{user_id}"
            hit = client.get(key)
            if hit:
                return json.loads(hit)
            result = fn(user_id)
            client.set(key, json.dumps(result), ex=ttl)
            return result
        return wrapper
    return decorate


def connections(proc):
    return proc.client().info("stats")["total_connections_received"]


def test_decorator_reuses_one_client_where_the_brief_opens_one_per_call(private_redis, db):
    @brief_style_cached(private_redis.url, 60)
    def brief_user(user_id):
        return db.get_user(user_id)

    client = fast_fail_client(private_redis.url)

    @cached(key="user:{user_id}", ttl=60, client=client, keys=Keys("t"))
    def our_user(user_id):
        return db.get_user(user_id)

    start = connections(private_redis)
    for _ in range(30):
        brief_user(3)
    brief_new = connections(private_redis) - start - 1  # minus our own INFO connection
    start = connections(private_redis)
    for _ in range(30):
        our_user(3)
    ours_new = connections(private_redis) - start - 1
    assert brief_new >= 30
    assert ours_new <= 1
    assert our_user.metrics.counters["hits"] == 29


def test_shared_client_is_one_client():
    assert shared_client() is shared_client()


def test_decorator_key_template_negative_caching_and_invalidate(r, db, keys):
    calls = []

    @cached(key="user:{user_id}", ttl=30, keys=keys, negative_ttl=5)
    def load(user_id, note="x"):
        calls.append(user_id)
        return db.get_user(user_id)

    assert load.key_for(4) == keys("user", 4)
    assert load(4) == load(4) == db.get_user(4)
    assert load(MISSING) is None and load(MISSING) is None
    assert calls == [4, MISSING]
    assert load.invalidate(4) and load(4) and calls == [4, MISSING, 4]

    @cached(key=lambda a, b: ("pair", a, b), ttl=30, keys=keys)
    def pair(a, b):
        return [a, b]

    assert pair("x:y", 2) == ["x:y", 2] and pair.key_for("x:y", 2) == keys("pair", "x:y", 2)


def test_decorator_falls_back_when_redis_is_down(private_redis):
    client = fast_fail_client(private_redis.url, timeout=0.1)

    @cached(key="sq:{n}", ttl=30, client=client, keys=Keys("t"),
            breaker=CircuitBreaker(threshold=1, reset_after=60))
    def square(n):
        return n * n

    assert square(3) == 9
    private_redis.stop()
    assert [square(3) for _ in range(5)] == [9] * 5
    assert square.metrics.counters["fallbacks"] == 5


def test_bad_input_gets_clear_errors(r, db, keys):
    cache = CacheAside(r, db, keys, ttl=30)
    for bad in (None, "7", 7.0, True):
        with pytest.raises(TypeError, match="must be an int"):
            cache.get(bad)
    with pytest.raises(ValueError, match="positive"):
        CacheAside(r, db, keys, ttl=-5)
    with pytest.raises(ValueError):
        CacheAside(r, db, keys, ttl=5, negative_ttl=-1)
    with pytest.raises(TypeError):
        CacheAside(r, db, keys, ttl="60")
    with pytest.raises(TypeError, match="must be a str"):
        cache.update(7, plan=3)
    with pytest.raises(ValueError, match="takes some of"):
        cache.update(7, version="9")
    assert db.get_user(7)["version"] == 1  # nothing was written

    with pytest.raises(ValueError, match="positive"):
        cached(key="k:{x}", ttl=-1)
    with pytest.raises(TypeError):
        cached(key=None, ttl=10)
    with pytest.raises(ValueError, match="no parameter"):
        cached(key="user:{uid}", ttl=10, keys=keys)(lambda user_id: user_id)

    @cached(key="thing:{name}", ttl=10, keys=keys)
    def thing(name):
        return {"tags": {"a", "b"}}

    with pytest.raises(TypeError, match="not None"):
        thing(None)
    with pytest.raises(CodecError, match="thing"):
        thing("x")
    with pytest.raises(TypeError, match="name must be a str"):
        cache.create(None, "x@example.com")
    with pytest.raises(ValueError, match="no user"):
        race_once(cache, MISSING)


def test_a_key_of_another_type_falls_back_to_the_database(r, db, keys):
    cache = CacheAside(r, db, keys, ttl=30)
    r.hset(cache.store.key(3), "not", "a string")  # someone else's data under our key
    assert cache.get(3) == db.get_user(3)
    assert cache.metrics.counters["read_errors"] == 1


def test_decorator_runs_uncached_when_no_redis_can_be_found(private_redis, db, keys, monkeypatch):
    import cachelab.aside as aside_module

    private_redis.stop()
    monkeypatch.setenv("REDIS_URL", private_redis.url)   # resolution now really fails
    monkeypatch.setattr(aside_module, "_shared", None)   # as in a fresh process

    @cached(key="user:{user_id}", ttl=30, keys=keys.child("dec"))
    def load(user_id):
        return db.get_user(user_id)

    assert load(4) == db.get_user(4) and load(4) == db.get_user(4)
    assert load.metrics.counters["fallbacks"] == 2


def test_outage_drill_serves_every_read_and_labels_where_it_came_from(private_redis, db):
    cache = CacheAside(fast_fail_client(private_redis.url, timeout=0.2), db, Keys("t"), ttl=30,
                       breaker=CircuitBreaker(threshold=2, reset_after=0.05))
    ids = list(range(1, 6))
    expected = {uid: db.get_user(uid) for uid in ids}
    samples = outage_drill(cache, private_redis, ids, expected, rate=200,
                           phases=[("up", "none", 0.3), ("down", "stop", 0.3),
                                   ("back", "start", 1.0)])
    assert samples and all(s["ok"] and s["error"] is None for s in samples)
    by_phase = {p: {s["source"] for s in samples if s["phase"] == p} for p in ("up", "down", "back")}
    assert by_phase["up"] == {"database (miss)", "cache"}
    assert by_phase["down"] == {"database (Redis down)"}
    assert "cache" in by_phase["back"]  # caching resumed after the restart, by itself
    with pytest.raises(ValueError, match="rate"):
        outage_drill(cache, private_redis, ids, expected, [("up", "none", 0.1)], rate=0)
    with pytest.raises(ValueError, match="at least one id"):
        outage_drill(cache, private_redis, [], expected, [("up", "none", 0.1)])
    with pytest.raises(ValueError, match="unknown action"):
        outage_drill(cache, private_redis, ids, expected, [("up", "reboot", 0.1)])
