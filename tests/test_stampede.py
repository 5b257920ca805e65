"""Each defence's effect, counted from real runs of the load generator against real Redis."""

from __future__ import annotations

import math
import random
import statistics

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cachelab import Database, dumps
from cachelab.stampede import (
    XFetch,
    brief_refresh_probability,
    bursts,
    run_stampede,
    xfetch_expected_recomputes,
    xfetch_should_recompute,
)
from cachelab.stampede.experiment import xfetch_claimed_range

pytestmark = pytest.mark.slow  # minutes of load runs: make test, not make test-quick

# Small but real: 1 s TTL, three expiries, a 50 ms database round trip (the simulated knob).
RUN = {"ttl": 1.0, "clients": 60, "rate": 500, "db_latency_ms": 50, "expiries": 3}


@pytest.fixture(scope="module")
def sdb(tmp_path_factory):
    database = Database(tmp_path_factory.mktemp("stampede") / "s.sqlite", latency_ms=0,
                        users=200, orders=800)
    yield database
    database.close()


def run(r, sdb, keys, defence, **overrides):
    return run_stampede(r, sdb, keys, defence, **{**RUN, **overrides}).summary


def test_bursts_groups_queries_per_expiry():
    assert bursts([0.0, 0.01, 0.02, 1.0, 1.01, 2.5], gap=0.5) == [3, 2, 1]
    assert bursts([], gap=0.5) == []


def test_no_protection_stampedes(r, sdb, keys):
    s = run(r, sdb, keys, "none")
    assert s["bursts"] == RUN["expiries"]
    # Roughly rate x recompute time (500/s x 50 ms = 25) queries at every expiry.
    assert min(s["per_expiry"]) >= 5 and s["queries_per_expiry"] >= 10
    assert s["error"] == 0 and s["unfinished"] == 0


def test_lock_recomputes_exactly_once_per_expiry_across_processes(r, sdb, keys):
    s = run(r, sdb, keys, "lock", processes=3)
    assert s["per_expiry"] == [1] * RUN["expiries"]
    assert s["waited"] > 0 and s["error"] == 0      # the others waited, and got the value


def test_coalesced_lock_recomputes_once(r, sdb, keys):
    s = run(r, sdb, keys, "lock+single-flight", processes=2)
    assert s["per_expiry"] == [1] * RUN["expiries"] and s["error"] == 0


def test_single_flight_recomputes_once_per_process(r, sdb, keys):
    result = run_stampede(r, sdb, keys, "single-flight", **{**RUN, "processes": 2})
    s, queries = result.summary, result.load.queries
    assert s["bursts"] == RUN["expiries"]
    assert queries["pid"].nunique() == 2             # both worker processes queried
    for start in range(RUN["expiries"]):             # and never twice in one expiry
        burst = queries[(queries["t"] > start + 0.5) & (queries["t"] < start + 1.5)]
        assert not burst["pid"].duplicated().any()
    assert max(s["per_expiry"]) <= 2                # at most one per process...
    assert 2 in s["per_expiry"]                     # ...and not one in total: it is per process
    assert s["waited"] > 0 and s["error"] == 0


def test_xfetch_recomputes_early_and_nobody_waits(r, sdb, keys):
    s = run(r, sdb, keys, "xfetch")
    assert s["waited"] == 0 and s["stale"] == 0
    # Every query is an early recompute (a miss would need a stall longer than the ~100 ms
    # by which XFetch's first early recompute precedes expiry at this rate).
    assert s["early"] > 0 and s["early"] + s["miss"] == s["db_queries"]
    assert s["miss"] <= s["early"]
    assert min(s["per_expiry"]) >= 1


def test_stale_while_revalidate_refreshes_once_and_serves_stale(r, sdb, keys):
    s = run(r, sdb, keys, "swr", processes=2)
    assert s["per_expiry"] == [1] * RUN["expiries"]
    assert s["stale"] > 0 and s["waited"] == 0 and s["miss"] == 0


def test_refresh_ahead_has_one_refresher_and_no_misses(r, sdb, keys):
    s = run(r, sdb, keys, "refresh-ahead", processes=2)
    # Readers only miss if the refresher is late by a fifth of the TTL (a long machine stall).
    assert s["hit"] >= 0.99 * s["requests"] and s["error"] == 0
    assert set(s["per_expiry"]) == {1}               # one refresher, whatever the processes


def test_the_brief_probability_rule_refreshes_many_times(r, sdb, keys):
    s = run(r, sdb, keys, "brief-probabilistic")
    assert s["queries_per_expiry"] >= 5              # a background thread per lucky read


# --- XFetch's rule ----------------------------------------------------------------------

@given(delta=st.floats(1e-4, 10), beta=st.floats(0.1, 10), remaining=st.floats(0, 1e4),
       u=st.floats(2**-53, 1))
def test_xfetch_rule_is_the_papers(delta, beta, remaining, u):
    now, expiry = 1000.0, 1000.0 + remaining
    expected = now - delta * beta * math.log(u) >= expiry
    assert xfetch_should_recompute(now, delta, beta, expiry, u) is expected
    if remaining > 37 * delta * beta:                 # -ln(u) <= 36.8 for any u >= 2**-53
        assert not xfetch_should_recompute(now, delta, beta, expiry, u)


def test_xfetch_never_recomputes_far_from_expiry(r, keys):
    calls = []
    d = XFetch(r, lambda k: calls.append(k) or "new", ttl=600, beta=1.0, rng=random.Random(1))
    key = keys("report")
    # Stored value: recompute took 10 ms, expiry in 60 s (6000 deltas away).
    r.set(key, dumps({"value": "old", "delta": 0.01, "expiry": d.clock() + 60}), ex=600)
    outcomes = [d.get(key)[1] for _ in range(10_000)]
    assert outcomes == ["hit"] * 10_000 and calls == []


def test_xfetch_recomputes_when_expiry_is_near(r, keys):
    d = XFetch(r, lambda k: "new", ttl=600, beta=1.0, rng=random.Random(2))
    key = keys("report")
    r.set(key, dumps({"value": "old", "delta": 1.0, "expiry": d.clock() + 0.001}), ex=600)
    assert d.get(key) == ("new", "early")
    assert d.get(key)[1] == "hit"                    # and the fresh entry is far from expiry


def test_the_brief_rule_is_not_xfetch():
    # Its delta is 20% of the TTL, not the recompute time, and beta multiplies a probability.
    assert brief_refresh_probability(0, ttl=5, beta=1) == 1
    assert brief_refresh_probability(1.0, ttl=5, beta=1) == 0          # not below delta=1 s
    assert brief_refresh_probability(0.5, ttl=5, beta=3) > 1            # not a probability
    assert xfetch_expected_recomputes(1.0) == pytest.approx(math.e)


def test_xfetch_mean_early_recomputes_stay_in_the_claimed_range(r, sdb, keys):
    # Steady load, many expiries; a 100 ms recompute keeps the first early recompute well
    # ahead of expiry (rate x delta x beta = 30) even when this shared machine stalls.
    beta = 1.0
    s = run(r, sdb, keys, "xfetch", ttl=1.0, clients=60, rate=300, db_latency_ms=100,
            beta=beta, expiries=12)
    per_expiry = s["per_expiry"][:-1]  # the last burst may be cut off by the end of the run
    low, high = xfetch_claimed_range(beta, s["recompute_stretch"])
    assert len(per_expiry) >= 10
    assert low <= statistics.mean(per_expiry) <= high
    assert s["waited"] == 0
