"""Five ways to send N operations do the same work; pipelining wins, and more across a network."""

from __future__ import annotations

import pytest

from cachelab.roundtrips import METHODS, pipeline_speedup, run_batch, speedup_with_delay


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


def test_pipelining_beats_separate_calls_3x_on_loopback(r, keys):
    res = pipeline_speedup(r, keys, 200, repeats=5)
    assert res["ratio"] >= 3, res


def test_pipelining_matters_more_across_the_delay_proxy(r, keys):
    (row,) = speedup_with_delay(r, keys, [50], rtt_ms=2, repeats=3)
    assert row["separate_round_trips"] == 50 and row["pipeline_round_trips"] == 1
    assert row["delayed_ratio"] >= 3
    assert row["delayed_ratio"] > row["loopback_ratio"], row
