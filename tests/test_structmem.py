"""Memory per object, listpack thresholds and bucketing, measured with MEMORY USAGE."""

from __future__ import annotations

import pytest

from cachelab.server import features, find_redis_server, redis_server_version
from cachelab.structmem import (
    bucket_of,
    bytes_per_item,
    compare_layouts,
    listpack_limits,
    make_object,
    memory_sweep,
    threshold_sweep,
    used_memory_per_item,
)


def test_limits_are_read_from_the_server(r):
    limits = listpack_limits(r)
    assert limits["entries"] > 0 and limits["value"] > 0
    assert "CONFIG GET" in limits["source"]


def test_make_object_sizes():
    obj = make_object(3, 10)
    assert len(obj) == 3 and all(len(v) == 8 for v in obj.values())  # + 2 JSON quotes = 10
    with pytest.raises(ValueError):
        make_object(0, 10)


def _compact(r) -> str:
    """The small-hash encoding's name: listpack from Redis 7.0, ziplist before (Redis 6.2)."""
    return "listpack" if features(r)["listpack"] else "ziplist"


def test_small_hash_is_a_listpack_and_converts_past_the_server_limits(r, keys):
    limits = listpack_limits(r)
    small = compare_layouts(r, keys, 8, 10)
    assert small["hash_encoding"] == _compact(r)
    many = compare_layouts(r, keys, limits["entries"] + 1, 10)
    big = compare_layouts(r, keys, 2, limits["value"] + 8)
    assert many["hash_encoding"] == "hashtable" and big["hash_encoding"] == "hashtable"
    # A listpack hash costs about what the JSON string does; a hash table costs more.
    assert small["hash_bytes"] <= 1.5 * small["string_bytes"]
    assert many["hash_bytes"] > 1.5 * many["string_bytes"]
    assert r.exists(keys("hash", 8, 10)) == 0  # compare_layouts cleans up after itself


def test_memory_sweep_grid(r, keys):
    rows = memory_sweep(r, keys, [1, 4], [10, 20])
    assert [(row["fields"], row["value_bytes"]) for row in rows] == [(1, 10), (4, 10), (1, 20), (4, 20)]


def test_threshold_moves_with_the_private_servers_setting():
    res = threshold_sweep([15, 16, 17, 40], max_entries=16)
    assert res["limits"]["entries"] == 16
    enc = {row["fields"]: row["encoding"] for row in res["rows"]}
    compact = "listpack" if redis_server_version(find_redis_server()) >= (7, 0, 0) else "ziplist"
    assert enc == {15: compact, 16: compact, 17: "hashtable", 40: "hashtable"}
    size = {row["fields"]: row["hash_bytes"] for row in res["rows"]}
    # The conversion is a jump, not a step of one field: Redis's hash table costs over twice
    # the listpack here, Valkey 9's denser one (its own hashtable since 8.1) about 1.9 times.
    assert size[17] > 1.5 * size[16]
    by_value = threshold_sweep([4], value_bytes=40, max_value=32)
    assert by_value["rows"][0]["encoding"] == "hashtable"


def test_bucket_of():
    assert bucket_of(1234, 100) == (12, "34")
    assert bucket_of(0, 100) == (0, "0")
    for bad in (-1, "7", 1.5, True):
        with pytest.raises(ValueError):
            bucket_of(bad, 100)
    for bad_size in (0, True, "100"):
        with pytest.raises(ValueError):
            bucket_of(5, bad_size)


def test_bucketed_hashes_use_at_least_3x_less_memory_per_item(r, keys):
    plain = bytes_per_item(r, keys, 1000)
    bucketed = bytes_per_item(r, keys, 1000, bucket_size=100)
    assert plain["keys"] == 1000 and bucketed["keys"] == 10
    assert bucketed["encoding"] == _compact(r)
    assert plain["bytes_per_item"] >= 3 * bucketed["bytes_per_item"], (plain, bucketed)
    assert r.exists(keys("item", 0), keys("bucket", 100, 0)) == 0


def test_used_memory_agrees_on_a_private_server():
    plain = used_memory_per_item(4000)
    bucketed = used_memory_per_item(4000, bucket_size=100)
    assert plain["bytes_per_item"] >= 3 * bucketed["bytes_per_item"], (plain, bucketed)
