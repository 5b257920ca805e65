"""Five ways to send N operations do the same work, in N round trips or in one."""

from __future__ import annotations

import pytest

from cachelab.netdelay import DelayProxy
from cachelab.roundtrips import METHODS, run_batch, speedup_with_delay


@pytest.mark.parametrize("method", METHODS)
def test_every_method_writes_and_reads_the_same_keys(r, keys, method):
    run_batch(r, keys, method, 20, op="set")
    assert r.mget([keys("rt", i) for i in range(20)]) == [str(i).encode() for i in range(20)]
    assert run_batch(r, keys, method, 20, op="get") == [str(i).encode() for i in range(20)]


def test_bad_arguments(r, keys):
    for kwargs in ({"method": "telepathy", "n": 5}, {"method": "pipeline", "n": 0},
                   {"method": "pipeline", "n": 5, "op": "del"}):
        with pytest.raises(ValueError):
            run_batch(r, keys, **kwargs)


def test_lua_survives_a_script_flush(private_redis, keys):
    # The script cache empties on restart; the helper must load it again (NOSCRIPT).
    pr = private_redis.client()
    run_batch(pr, keys, "lua", 3)
    pr.script_flush()
    assert run_batch(pr, keys, "lua", 3) == [3]
    pr.close()


# How much faster batching is, is a timing claim: benchmarks/roundtrips.py measures it side by
# side. The tests assert its cause, counted by the proxy: round trips per method.
@pytest.mark.parametrize("op", ["set", "get"])
@pytest.mark.parametrize("method, trips", [("separate", 50), ("pipeline", 1), ("multi", 1),
                                           ("mset_mget", 1), ("lua", 1)])
def test_round_trips_per_method(r, keys, method, trips, op):
    with DelayProxy.for_client(r) as proxy, proxy.client(r) as far:
        run_batch(far, keys, method, 50, op="set")  # connected, script loaded, keys there
        proxy.reset_counters()
        run_batch(far, keys, method, 50, op=op)
        assert proxy.round_trips == trips


def test_separate_calls_wait_for_every_delayed_round_trip(r, keys):
    (row,) = speedup_with_delay(r, keys, [50], rtt_ms=2, repeats=3)
    assert row["separate_round_trips"] == 50 and row["pipeline_round_trips"] == 1
    # Lower bounds that the proxy's declared delay guarantees (no upper bounds: shared machine).
    assert row["delayed"]["separate_s"] >= 50 * 0.002
    assert row["delayed"]["pipeline_s"] >= 0.002
    assert row["measured_rtt_us"] >= 2000
