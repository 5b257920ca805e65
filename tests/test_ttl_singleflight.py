"""TTL validation and jitter; single-flight coalescing."""

from __future__ import annotations

import random
import threading

import pytest

from cachelab.checks import CachelabTypeError, CachelabValueError
from cachelab.singleflight import SingleFlight
from cachelab.ttl import check_ttl, jitter


@pytest.mark.parametrize("bad, error", [(-1, ValueError), (0, ValueError), (float("nan"), ValueError),
                                        ("60", TypeError), (None, TypeError), (True, TypeError)])
def test_bad_ttls_are_refused(bad, error):
    with pytest.raises(error, match="ttl"):
        check_ttl(bad)


def test_jitter_spreads_within_bounds():
    rng = random.Random(1)
    values = [jitter(100, 0.2, rng) for _ in range(2000)]
    assert min(values) >= 80 and max(values) <= 120
    assert len(set(values)) > 30
    assert jitter(1, 0.5, rng) >= 1
    with pytest.raises(ValueError):
        jitter(10, 1.5)


def test_single_flight_runs_once_for_concurrent_callers():
    sf = SingleFlight()
    started, release = threading.Event(), threading.Event()
    calls = []

    def slow():
        calls.append(1)
        started.set()
        release.wait(5)
        return "value"

    results = []
    leader = threading.Thread(target=lambda: results.append(sf.do("k", slow)))
    leader.start()
    started.wait(5)
    followers = [threading.Thread(target=lambda: results.append(sf.do("k", slow))) for _ in range(20)]
    for t in followers:
        t.start()
    while sf._calls["k"].waiters < 20:  # every follower is now waiting on the leader
        threading.Event().wait(0.001)
    release.set()
    for t in [leader, *followers]:
        t.join()
    assert results == ["value"] * 21 and len(calls) == 1
    assert sf.executions == 1 and sf.shared == 20 and sf.in_flight() == 0


def test_single_flight_shares_errors_and_then_retries():
    sf = SingleFlight()
    with pytest.raises(KeyError):
        sf.do("k", lambda: {}["missing"])
    assert sf.do("k", lambda: 42) == 42 and sf.executions == 2


@pytest.mark.parametrize("bad, error", [(True, CachelabTypeError), (0, CachelabValueError),
                                        (-1, CachelabValueError), (float("inf"), CachelabValueError),
                                        (float("nan"), CachelabValueError), ("5", CachelabTypeError)])
def test_single_flight_refuses_a_timeout_that_would_not_wait(bad, error):
    # Event.wait(0 or negative) returns at once: a follower would fail instead of waiting.
    sf = SingleFlight()
    with pytest.raises(error, match="timeout"):
        sf.do("k", lambda: 1, timeout=bad)
    assert (sf.executions, sf.in_flight()) == (0, 0)  # refused before fn ran or a call was opened
    assert sf.do("k", lambda: 2, timeout=0.5) == 2
