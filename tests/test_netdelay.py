"""The delay proxy forwards bytes intact, really adds its delay, and counts round trips."""

from __future__ import annotations

import time

import pytest
import redis

from cachelab.netdelay import DelayProxy


@pytest.fixture
def proxy(r):
    p = DelayProxy.for_client(r).start()
    yield p
    p.stop()


def test_bytes_pass_intact_both_ways(r, keys, proxy):
    far = proxy.client(r)
    big = bytes(range(256)) * 4096  # 1 MiB, every byte value
    far.set(keys("big"), big)
    assert far.get(keys("big")) == big == r.get(keys("big"))
    far.close()


def test_rtt_is_added_and_adjustable(r, proxy):
    far = proxy.client(r)
    far.ping()
    for rtt_ms in (20, 40):
        proxy.rtt_ms = rtt_ms
        start = time.perf_counter()
        far.ping()
        # A lower bound only: the proxy must hold the bytes at least this long.
        assert time.perf_counter() - start >= rtt_ms / 1000
    far.close()


def test_round_trips_are_counted(r, keys, proxy):
    far = proxy.client(r)
    far.ping()
    proxy.reset_counters()
    for i in range(25):
        far.set(keys("k", i), i)
    assert proxy.round_trips == 25
    proxy.reset_counters()
    pipe = far.pipeline(transaction=False)
    for i in range(25):
        pipe.get(keys("k", i))
    assert pipe.execute() == [str(i).encode() for i in range(25)]
    assert proxy.round_trips == 1 and proxy.bytes_up > 0 and proxy.bytes_down > 0
    far.close()


def test_bad_rtt_is_refused():
    for bad in (-1, float("nan"), float("inf"), "5", True, 1e9):
        with pytest.raises((TypeError, ValueError)):
            DelayProxy(rtt_ms=bad)


def test_client_before_start_is_a_clear_error(r):
    with pytest.raises(RuntimeError, match="start the proxy"):
        DelayProxy.for_client(r).client(r)


def test_target_down_means_connection_error_and_recovers(private_redis):
    with DelayProxy("127.0.0.1", private_redis.port, rtt_ms=1) as p:
        far = p.client(socket_timeout=2, socket_connect_timeout=2)
        assert far.set("cachelab:11:x", "1")
        private_redis.kill()
        with pytest.raises(redis.ConnectionError):
            far.get("cachelab:11:x")
        private_redis.start()
        far.connection_pool.disconnect()
        assert far.get("cachelab:11:x") is None  # restarted empty, through the same proxy
        far.close()


def test_stop_closes_connections_and_is_idempotent(r):
    p = DelayProxy.for_client(r).start()
    far = p.client(r, socket_timeout=2)
    far.ping()
    p.stop()
    p.stop()
    with pytest.raises(redis.ConnectionError):
        far.ping()
    far.close()


def test_url_rewrite(r):
    with DelayProxy.for_client(r) as p:
        assert p.url("redis://:secret@127.0.0.1:6379/2") == f"redis://:secret@127.0.0.1:{p.port}/2"
        assert p.url("redis://127.0.0.1:6379/0") == f"redis://127.0.0.1:{p.port}/0"


def test_restart_after_stop(r):
    p = DelayProxy.for_client(r).start()
    p.stop()
    assert p.port is None
    p.start()
    with p.client(r) as far:
        assert far.ping()
    p.stop()
