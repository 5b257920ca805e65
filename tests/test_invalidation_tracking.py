"""CLIENT TRACKING implemented in cachelab, on private servers (connections are killed)."""

from __future__ import annotations

import pytest
import redis

from cachelab import features
from cachelab.invalidation import TrackingCache, builtin_cache, tracking_info

from .waiting import until

MODES = [("redirect", False), ("redirect", True), ("resp3", False), ("resp3", True)]


@pytest.mark.parametrize("transport, bcast", MODES, ids=[f"{t}-{'bcast' if b else 'default'}"
                                                         for t, b in MODES])
def test_tracking_invalidates_a_local_copy_after_another_client_writes(private_redis, transport,
                                                                       bcast):
    other = private_redis.client()
    other.set("cachelab:t:k", "1")
    with TrackingCache(private_redis.url, transport=transport, bcast=bcast,
                       prefixes=["cachelab:t:"] if bcast else ()) as tc:
        assert tc.get("cachelab:t:k") == b"1" and tc.last_source == "redis"
        assert tc.get("cachelab:t:k") == b"1" and tc.last_source == "local"
        info = tracking_info(other)
        assert info["tracking_total_prefixes" if bcast else "tracking_total_keys"] >= 1
        other.set("cachelab:t:k", "2")
        if transport == "redirect":  # the listener thread drops it on its own
            assert until(lambda: len(tc) == 0)
        assert tc.get("cachelab:t:k") == b"2" and tc.last_source == "redis"
        assert tc.stats["messages"] >= 1


@pytest.mark.parametrize("transport", ["redirect", "resp3"])
def test_tracking_flushes_when_its_data_connection_is_killed(private_redis, transport):
    other = private_redis.client()
    other.set("cachelab:t:k", "1")
    with TrackingCache(private_redis.url, transport=transport) as tc:
        tc.get("cachelab:t:k")
        assert len(tc) == 1
        other.execute_command("CLIENT", "KILL", "ID", tc.client_id())
        other.set("cachelab:t:k", "2")   # no invalidation can reach the dead connection
        assert tc.get("cachelab:t:k") == b"2"       # noticed before serving the old copy
        assert tc.stats["disconnects"] == 1
        assert tc.get("cachelab:t:k") == b"2" and tc.last_source == "local"  # tracked again
        other.set("cachelab:t:k", "3")
        if transport == "redirect":
            assert until(lambda: len(tc) == 0)
        assert tc.get("cachelab:t:k") == b"3"


def test_tracking_flushes_when_its_invalidation_connection_is_killed(private_redis):
    other = private_redis.client()
    other.set("cachelab:t:k", "1")
    with TrackingCache(private_redis.url, backoff=0.2) as tc:
        tc.get("cachelab:t:k")
        assert len(tc) == 1
        other.execute_command("CLIENT", "KILL", "TYPE", "pubsub")
        assert until(lambda: len(tc) == 0 and not tc.healthy, 2.0)
        other.set("cachelab:t:k", "2")               # written while nobody listens
        assert tc.get("cachelab:t:k") == b"2"         # bypassed to Redis, never stale
        assert until(lambda: tc.healthy)
        assert tc.get("cachelab:t:k") == b"2"
        other.set("cachelab:t:k", "3")
        assert until(lambda: tc.get("cachelab:t:k") == b"3")


def test_tracking_survives_a_server_restart_without_serving_stale_copies(private_redis):
    private_redis.client().set("cachelab:t:k", "1")
    with TrackingCache(private_redis.url, backoff=0.05) as tc:
        tc.get("cachelab:t:k")
        private_redis.restart()                     # all data and connections gone
        assert tc.get("cachelab:t:k") is None       # not the old local copy
        private_redis.client().set("cachelab:t:k", "2")
        assert until(lambda: tc.get("cachelab:t:k") == b"2")


def test_tracking_rejects_bad_options(private_redis):
    with pytest.raises(ValueError, match="transport"):
        TrackingCache(private_redis.url, transport="carrier-pigeon")
    with pytest.raises(ValueError, match="BCAST"):
        TrackingCache(private_redis.url, prefixes=["a:"])


def test_builtin_client_cache_is_feature_detected(private_redis):
    client, reason = builtin_cache(private_redis.url)
    if features(private_redis.client())["client_side_cache"]:
        assert client is not None and reason == ""
        client.set("cachelab:t:b", "1")
        assert client.get("cachelab:t:b") == b"1"
        client.close()
    else:
        assert client is None and "7.4" in reason


def test_tracking_cache_from_a_client_keeps_a_password_with_url_characters(private_redis):
    password = "p@ss:w/rd#1"
    private_redis.client().config_set("requirepass", password)  # a private server: ours to change
    other = redis.Redis(host="127.0.0.1", port=private_redis.port, password=password)
    other.set("cachelab:t:pw", "1")
    with TrackingCache(other) as tc:  # built from the client, not from a URL
        assert tc.get("cachelab:t:pw") == b"1" and tc.get("cachelab:t:pw") == b"1"
        assert tc.last_source == "local"
    other.close()
