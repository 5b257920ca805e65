"""The circuit breaker's states, and a fail-fast client against a really stopped server."""

from __future__ import annotations

import time

import pytest
import redis

from cachelab.breaker import CircuitBreaker, fast_fail_client
from cachelab.checks import CachelabTypeError, CachelabValueError


def test_opens_after_threshold_and_probes_once_after_reset():
    # reset_after is long next to a descheduled thread on a loaded machine: the "still open"
    # and "only one probe" checks must not see the window pass between two calls.
    b = CircuitBreaker(threshold=2, reset_after=0.5)
    assert b.allow()
    b.failure()
    assert b.state == "closed" and b.allow()
    b.failure()
    assert b.state == "open" and b.opened == 1
    assert not b.allow() and b.skipped == 1
    time.sleep(0.51)  # wait out reset_after: the real condition under test
    assert b.allow()          # one probe
    assert not b.allow()      # and only one
    b.failure()
    assert b.state == "open" and b.opened == 2
    time.sleep(0.51)
    assert b.allow()
    assert b.success() is True and b.state == "closed"
    assert b.success() is False


def test_success_resets_consecutive_failures():
    b = CircuitBreaker(threshold=3)
    b.failure()
    b.failure()
    b.success()
    b.failure()
    b.failure()
    assert b.state == "closed"


@pytest.mark.parametrize("kwargs, error", [
    ({"threshold": 0}, CachelabValueError), ({"threshold": 1.5}, CachelabTypeError),
    ({"reset_after": 0}, CachelabValueError), ({"reset_after": -1}, CachelabValueError),
    ({"threshold": True}, CachelabTypeError),
    # True read as 1 s; inf meant an open breaker never probes, so it never closes again
    ({"reset_after": True}, CachelabTypeError), ({"reset_after": float("inf")}, CachelabValueError),
    ({"reset_after": float("nan")}, CachelabValueError)])
def test_bad_settings_are_rejected(kwargs, error):
    with pytest.raises(error, match=next(iter(kwargs))):
        CircuitBreaker(**kwargs)


def test_fast_fail_client_raises_instead_of_retrying(private_redis):
    c = fast_fail_client(private_redis.url, timeout=0.2)
    c.set("k", "v")
    private_redis.stop()
    with pytest.raises(redis.ConnectionError):
        c.get("k")
    private_redis.start()
    assert c.get("k") is None  # reconnects by itself; the restarted server is empty
    with pytest.raises(ValueError):
        fast_fail_client(private_redis.url, timeout=0)
