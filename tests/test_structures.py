"""Hashes, counters, capped lists, sets and rankings on the real Redis (notebook 11)."""

from __future__ import annotations

import pytest
import redis

from cachelab import CodecError
from cachelab.server import features
from cachelab.structures import (
    brief_add_tags,
    brief_cache_hash,
    brief_push_recent,
    brief_update_field,
    cache_ranking,
    capped_list_race,
    common_tags,
    counter_race,
    decode_fields,
    encode_fields,
    expire_fields,
    field_update_race,
    get_fields,
    get_json,
    get_object,
    push_recent,
    put_json,
    put_object,
    recent,
    set_tags,
    top,
    update_fields,
    update_json_field,
)

from .waiting import until

USER = {"id": 7, "name": "Ada Lovelace", "email": "ada@example.com", "plan": "pro",
        "active": True, "manager": None, "tags": ["math", "poetry"], "score": 9.5}


# --- hashes ---------------------------------------------------------------------------------

def test_fields_round_trip_with_their_types():
    assert decode_fields(encode_fields(USER)) == USER
    assert decode_fields({b"n": b"42"}) == {"n": 42}


@pytest.mark.parametrize("bad, error", [
    ({}, ValueError), ([("a", 1)], TypeError), ({1: "x"}, TypeError), ({"": 1}, TypeError),
    ({"when": object()}, CodecError), ({"x": float("nan")}, CodecError),
])
def test_bad_objects_get_clear_errors(bad, error):
    with pytest.raises(error):
        encode_fields(bad)


def test_brief_hset_rejects_python_types_that_json_fields_accept(r, keys):
    # The brief hands Python values straight to HSET: None and bool are refused by redis-py.
    with pytest.raises(redis.DataError):
        brief_cache_hash(r, keys("u"), {"manager": None})
    put_object(r, keys("u"), USER, ttl=60)
    assert get_object(r, keys("u")) == USER


def test_partial_update_leaves_other_fields_and_keeps_the_ttl(r, keys):
    key = keys("user", 7)
    put_object(r, key, USER, ttl=60)
    r.pexpire(key, 30_000)  # pretend half the TTL has gone by
    assert update_fields(r, key, {"plan": "team", "score": 10}) is True
    obj = get_object(r, key)
    assert obj == {**USER, "plan": "team", "score": 10}
    assert 0 < r.pttl(key) <= 30_000  # HSET leaves the TTL alone: not refreshed
    assert update_fields(r, key, {"plan": "free"}, refresh_ttl=60) is True
    assert 30_000 < r.pttl(key) <= 60_000  # refreshed in the same atomic step


def test_update_of_a_missing_object_writes_nothing(r, keys):
    key = keys("user", 8)
    with pytest.raises(ValueError, match="at least one field"):
        update_fields(r, key, {})
    assert update_fields(r, key, {"plan": "team"}) is False
    assert r.exists(key) == 0
    assert get_object(r, key) is None and get_fields(r, key, "plan") is None


def test_brief_update_after_expiry_creates_an_immortal_partial_object(r, keys):
    key = keys("user", 9)
    brief_cache_hash(r, key, {"name": "Ada", "plan": "pro"}, ttl=60)
    r.delete(key)  # the TTL ran out
    brief_update_field(r, key, "plan", "team")
    assert r.hgetall(key) == {b"plan": b"team"}  # a one-field "user" ...
    assert r.ttl(key) == -1                       # ... that never expires


def test_brief_recache_merges_stale_fields_put_object_replaces(r, keys):
    key = keys("user", 10)
    brief_cache_hash(r, key, {"name": "Ada", "coupon": "SPRING"})
    brief_cache_hash(r, key, {"name": "Ada"})  # the coupon was removed in the database
    assert r.hget(key, "coupon") == b"SPRING"
    put_object(r, key, {"name": "Ada", "coupon": "SPRING"}, ttl=60)
    put_object(r, key, {"name": "Ada"}, ttl=60)
    assert get_object(r, key) == {"name": "Ada"}


def test_get_fields_tells_missing_object_from_missing_field(r, keys):
    key = keys("user", 11)
    put_object(r, key, {"name": "Ada"}, ttl=60)
    assert get_fields(r, key, "name", "plan") == {"name": "Ada", "plan": None}
    with pytest.raises(ValueError):
        get_fields(r, key)


def test_counter_fields_stay_hincrby_compatible(r, keys):
    key = keys("user", 12)
    put_object(r, key, {"logins": 41}, ttl=60)
    assert r.hincrby(key, "logins", 1) == 42
    assert get_object(r, key) == {"logins": 42}


def test_json_string_set_clears_the_ttl_keepttl_keeps_it(r, keys):
    key = keys("json", 1)
    put_json(r, key, USER, ttl=60)
    assert update_json_field(r, key, "plan", "team", keep_ttl=True)
    assert 0 < r.pttl(key) <= 60_000
    assert update_json_field(r, key, "plan", "free", keep_ttl=False)
    assert r.pttl(key) == -1  # a plain SET made the cached copy immortal
    assert get_json(r, key)["plan"] == "free"
    assert update_json_field(r, keys("json", "missing"), "plan", "x") is False


def test_hash_fields_do_not_clobber_each_other_json_rmw_does(r, keys):
    hashed = field_update_race(r, keys("race", "hash"), threads=4, updates=300, layout="hash")
    assert hashed["lost"] == 0 and hashed["per_field"] == [300] * 4
    whole = field_update_race(r, keys("race", "json"), threads=4, updates=300, layout="json")
    assert whole["lost"] > 0, whole


def test_ttl_validation(r, keys):
    for ttl in (0, -5, float("nan"), "60"):
        with pytest.raises((TypeError, ValueError)):
            put_object(r, keys("u"), USER, ttl=ttl)
    assert r.exists(keys("u")) == 0


def test_per_field_ttl_is_feature_detected(r, keys):
    key = keys("user", 13)
    put_object(r, key, {"name": "Ada", "otp": "123456"}, ttl=60)
    result = expire_fields(r, key, 0.2, "otp")
    if not features(r)["hexpire"]:
        assert result is None  # Redis < 7.4: skipped, the object is untouched
        assert get_object(r, key) == {"name": "Ada", "otp": "123456"}
        return
    assert result == [1]
    assert until(lambda: not r.hexists(key, "otp"), 5.0)  # Redis expires the field on its own
    assert get_object(r, key) == {"name": "Ada"}


# --- counters -------------------------------------------------------------------------------

def test_python_read_modify_write_loses_updates_incr_loses_none(r, keys):
    naive = counter_race(r, keys("c", "python"), method="python", threads=8, per_thread=300)
    assert naive["lost"] > 0, naive
    for method in ("incr", "hincrby", "watch"):
        res = counter_race(r, keys("c", method), method=method, threads=8, per_thread=300)
        assert res["lost"] == 0 and res["final"] == 2400, res
    with pytest.raises(ValueError):
        counter_race(r, keys("c", "x"), method="magic")


# --- lists, sets, sorted sets ---------------------------------------------------------------

def test_push_recent_keeps_the_newest_and_sets_the_ttl(r, keys):
    key = keys("recent", 1)
    for i in range(15):
        assert push_recent(r, key, i, cap=10, ttl=60) == min(i + 1, 10)
    assert recent(r, key) == [str(i) for i in range(14, 4, -1)]
    assert recent(r, key, 3) == ["14", "13", "12"]
    assert 0 < r.pttl(key) <= 60_000
    with pytest.raises(ValueError):
        push_recent(r, key, 1, cap=0, ttl=60)
    with pytest.raises(TypeError):
        push_recent(r, key, {"id": 1}, cap=10, ttl=60)


def test_capped_list_never_exceeds_its_cap_under_concurrent_pushes(r, keys):
    safe = capped_list_race(r, keys("race", "safe"), pushers=4, pushes=300, cap=10, atomic=True)
    assert safe["samples"] > 0
    assert safe["max_len"] <= 10 and safe["over_cap"] == 0 and safe["no_ttl"] == 0, safe
    brief = capped_list_race(r, keys("race", "brief"), pushers=4, pushes=300, cap=10, atomic=False)
    assert brief["max_len"] > 10 and brief["over_cap"] > 0, brief


def test_brief_push_is_three_commands(r, keys):
    key = keys("recent", 2)
    brief_push_recent(r, key, "a", cap=2, ttl=60)
    assert recent(r, key) == ["a"] and r.ttl(key) > 0


def test_set_tags_replaces_brief_add_tags_merges(r, keys):
    a, b = keys("tags", "a"), keys("tags", "b")
    brief_add_tags(r, a, ["redis", "python", "beta"])
    brief_add_tags(r, a, ["redis", "python"])  # "beta" was removed at the source
    assert b"beta" in r.smembers(a)
    set_tags(r, a, ["redis", "python", "beta"], ttl=60)
    set_tags(r, a, ["redis", "python"], ttl=60)
    set_tags(r, b, ["python", "sql"], ttl=60)
    assert common_tags(r, a, b) == {"python"}
    assert 0 < r.pttl(a) <= 60_000
    set_tags(r, b, [], ttl=60)
    assert r.exists(b) == 0 and common_tags(r, a, b) == set()
    with pytest.raises(TypeError):
        set_tags(r, a, ["ok", 3], ttl=60)


def test_ranking_top_n_with_scores(r, keys):
    key = keys("rank")
    assert cache_ranking(r, key, {"ada": 30, "alan": 50, "grace": 40}, ttl=60) == 3
    assert top(r, key, 2) == [("alan", 50.0), ("grace", 40.0)]
    cache_ranking(r, key, {"ken": 1}, ttl=60)  # replaces, does not merge
    assert top(r, key, 10) == [("ken", 1.0)]
    with pytest.raises(TypeError):
        cache_ranking(r, key, {"x": "high"}, ttl=60)


def test_redis_down_gives_a_connection_error_and_loses_nothing_acknowledged(private_redis):
    pr = private_redis.client(socket_timeout=2)
    push_recent(pr, "cachelab:11:recent", "a", cap=5, ttl=60)
    private_redis.kill()
    with pytest.raises(redis.ConnectionError):
        push_recent(pr, "cachelab:11:recent", "b", cap=5, ttl=60)
    private_redis.start()
    # A restart without persistence empties the cache: a miss, never a partial list.
    assert recent(pr, "cachelab:11:recent") == []
    assert push_recent(pr, "cachelab:11:recent", "c", cap=5, ttl=60) == 1
    pr.close()
