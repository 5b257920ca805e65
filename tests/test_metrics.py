"""Counters and percentiles."""

from __future__ import annotations

import math
import threading

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from cachelab.metrics import Counters, LatencyRecorder, Metrics, percentile


@given(st.lists(st.floats(0, 1e6), min_size=1, max_size=200), st.floats(0, 100))
def test_percentile_matches_numpy(values, p):
    assert percentile(values, p) == pytest.approx(np.percentile(values, p), rel=1e-9, abs=1e-9)


def test_percentile_edge_cases():
    assert math.isnan(percentile([], 50))
    with pytest.raises(ValueError):
        percentile([1], 101)


def test_counters_are_exact_under_threads():
    c = Counters()

    def bump():
        for _ in range(10_000):
            c.incr("hits")

    threads = [threading.Thread(target=bump) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert c["hits"] == 80_000
    c.incr("misses", 20_000)
    assert c.hit_ratio == 0.8


def test_latency_summary_in_ms():
    rec = LatencyRecorder()
    for ms in range(1, 101):
        rec.record(ms / 1000)
    s = rec.summary()
    assert s["count"] == 100 and s["p50_ms"] == pytest.approx(50.5) and s["max_ms"] == 100
    m = Metrics()
    m.latency("get").record(0.002)
    m.incr("hits")
    assert m.snapshot()["get_p50_ms"] == pytest.approx(2.0) and m.snapshot()["hits"] == 1
