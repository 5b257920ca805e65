"""Each policy against hand-checked traces, invariants on random traces, and libCacheSim."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cachelab.eviction import (
    ARC,
    POLICIES,
    S3FIFO,
    Belady,
    SampledLRU,
    WTinyLFU,
    load_trace,
    make,
    scan_polluted,
    simulate,
    zipf,
)
from cachelab.eviction.offline import next_use
from cachelab.eviction.tinylfu import FrequencySketch
from cachelab.lru import OrderedDictLRU

# Belady's anomaly string, capacity 3. Hand-checked (cache contents after each miss):
# FIFO  1 2 3 | 4:[2,3,4] 1:[3,4,1] 2:[4,1,2] 5:[1,2,5] 1✓ 2✓ 3:[2,5,3] 4:[5,3,4] 5✓  -> 3 hits
# LRU   ... 5:[1,2,5] 1✓ 2✓ 3 evicts 5, 4 evicts 1, 5 evicts 2                           -> 2 hits
# OPT   4 evicts 3 (needed last), 1✓ 2✓, 5 evicts 4, 1✓ 2✓, then 3 and 4 are needed later
#       than 5 and never again: bypassed (or, without bypass, 3 evicts 1 or 2, 4 evicts 3), 5✓ -> 5 hits
# CLOCK like FIFO until 1✓ 2✓ set bits; 3: 1 and 2 get second chances, 5 goes; 4, 5 miss -> 2 hits
# SIEVE like FIFO until 1✓ 2✓; 3: hand clears 1, 2 and evicts 5; 4 evicts 1; 5 evicts 2 -> 2 hits
# LFU   4,1,2,5 each evict the oldest count-1 key; 1✓ 2✓ (count 2); 3 evicts 5, 4 evicts 3,
#       5 evicts 4                                                                      -> 2 hits
ANOMALY = [1, 2, 3, 4, 1, 2, 5, 1, 2, 3, 4, 5]

# A hot pair, then a one-time scan of 3, 4, 5, then the hot pair again; capacity 3.
# FIFO/LRU/CLOCK/SIEVE: the scan flushes 1 and 2 (CLOCK and SIEVE clear their bits and
#   evict 3 first, then 1 and 2 go)                                                   -> 2 hits
# LFU: 1, 2 reach count 2; the scan keys (count 1) evict each other                   -> 4 hits
# ARC: 1, 2 move to T2 on their second request; the scan cycles through T1 (p = 0)    -> 4 hits
# S3-FIFO (small 1, main 2, ghost 2): 1 → small, 2 → main (small full, nothing evicted
#   yet), hits on both, 3 → main; 4 evicts 1 from small to the ghost; 5 evicts 4; 1 is a
#   ghost hit (miss, inserted into main); 2 ✓ in main                                 -> 3 hits
# W-TinyLFU (window 1, main 2): 1 and 2 reach main; 3, 4, 5 each lose the frequency
#   contest against 2 (count 2 vs 1) and are dropped                                  -> 4 hits
# Belady: 3, 4, 5 are never needed again, so they are bypassed (or evicted first)    -> 4 hits
SCAN = [1, 2, 1, 2, 3, 4, 5, 1, 2]

HAND_CHECKED = {
    "FIFO": (3, 2), "LRU": (2, 2), "LFU": (2, 4), "CLOCK": (2, 2), "SIEVE": (2, 2),
    "ARC": (None, 4), "S3-FIFO": (None, 3), "W-TinyLFU": (None, 4), "Belady": (5, 4),
}


@pytest.mark.parametrize("name", list(POLICIES))
def test_hit_counts_equal_the_hand_checked_values(name):
    anomaly, scan = HAND_CHECKED[name]
    if anomaly is not None:
        assert make(name, 3).run(ANOMALY) == anomaly
    assert make(name, 3).run(SCAN) == scan
    if name == "Belady":
        assert Belady(3, bypass=False).run(ANOMALY) == 5 and Belady(3, bypass=False).run(SCAN) == 4


def test_beladys_anomaly_fifo_misses_more_with_more_memory():
    assert make("FIFO", 3).run(ANOMALY) == 3 and make("FIFO", 4).run(ANOMALY) == 2
    assert make("LRU", 4).run(ANOMALY) == 4  # LRU is a stack algorithm: no anomaly


ALL = [*POLICIES, "sampled-lru"]


@pytest.mark.parametrize("name", ALL)
@settings(max_examples=60, deadline=None)
@given(capacity=st.integers(1, 12), trace=st.lists(st.integers(0, 30), max_size=300))
def test_policy_invariants_on_random_traces(name, capacity, trace):
    policy = make(name, capacity)
    policy.prepare(trace)
    admission_control = name in ("W-TinyLFU", "Belady")  # these may decline a missed key
    for key in trace:
        was_in = key in policy
        assert policy.access(key) == was_in  # a hit exactly when the key was cached
        assert key in policy or admission_control  # the others admit every miss
        assert len(policy) <= capacity


@settings(max_examples=100, deadline=None)
@given(capacity=st.integers(1, 10), trace=st.lists(st.integers(0, 25), max_size=300))
def test_simulated_lru_equals_the_lru_cache_and_belady_bounds_everyone(capacity, trace):
    cache = OrderedDictLRU(capacity)
    for key in trace:
        if cache.get(key, None) is None:
            cache.put(key, True)
    assert make("LRU", capacity).run(trace) == cache.cache_info().hits
    lru = make("LRU", capacity)
    assert sum(map(lru.access, trace)) == cache.cache_info().hits  # generic path == fast path
    best = Belady(capacity).run(trace)
    assert Belady(capacity, bypass=False).run(trace) <= best
    for name in POLICIES:
        assert make(name, capacity).run(trace) <= best, name


def test_sampled_lru_with_many_samples_tracks_exact_lru():
    trace = zipf(30_000, 2_000, 0.9, seed=3)
    exact = simulate("LRU", trace, 200).hit_ratio
    one = simulate(SampledLRU(200, samples=1), trace).hit_ratio
    ten = simulate(SampledLRU(200, samples=10), trace).hit_ratio
    assert abs(ten - exact) < abs(one - exact)
    # a clock that ticks once per 5,000 requests blurs recency: worse than the exact clock
    coarse = simulate(SampledLRU(200, samples=10, resolution=5_000), trace).hit_ratio
    assert coarse < ten


def test_scan_resistant_policies_beat_lru_on_a_scan_polluted_workload():
    trace = scan_polluted(40_000, 5_000, 1.0, scan_every=2_000, scan_length=1_500, seed=1)
    lru = simulate("LRU", trace, 500).hit_ratio
    for name in ("ARC", "S3-FIFO", "W-TinyLFU"):
        assert simulate(name, trace, 500).hit_ratio > lru + 0.05, name


def test_arc_integer_step_changes_results_slightly():
    trace = load_trace("oltp", 50_000)
    real, integer = ARC(500).run(trace), ARC(500, integer_step=True).run(trace)
    assert real != integer and abs(real - integer) / len(trace) < 0.01


def test_next_use_and_frequency_sketch():
    assert next_use([7, 8, 7, 9, 8]) == [2, 4, 7, 8, 9]  # never again: len + position
    assert next_use(["a", "b", "a"]) == [2, 4, 5]
    sketch = FrequencySketch(64)
    for _ in range(5):
        sketch.increment("hot")
    assert sketch.frequency("hot") >= 5 and sketch.frequency("never") <= 1
    for i in range(sketch.sample_size):  # aging halves the counters
        sketch.increment(i)
    assert sketch.resets >= 1 and sketch.frequency("hot") < 5


def test_traces_load_with_their_documented_counts():
    oltp = load_trace("oltp")
    assert len(oltp) == 914_145 and len(set(oltp)) == 186_880
    orm = load_trace("orm-busy", 100_000)
    assert len(orm) == 100_000 and isinstance(orm[0], int)
    with pytest.raises(ValueError, match="unknown trace"):
        load_trace("nope")


def test_lru_reproduces_the_arc_papers_oltp_table():
    # Megiddo & Modha, FAST 2003, Table IV (OLTP, LRU column): 32.83% at 1000 pages.
    assert round(100 * simulate("LRU", load_trace("oltp"), 1000).hit_ratio, 2) == 32.83


def test_bad_inputs_get_clear_errors():
    with pytest.raises(ValueError, match="unknown policy"):
        make("MRU", 10)
    with pytest.raises(ValueError, match="capacity"):
        make("LRU", 0)
    with pytest.raises(RuntimeError, match="trace in advance"):
        Belady(2).access(1)
    with pytest.raises(ValueError):
        zipf(10, 10, -1)
    with pytest.raises(ValueError):
        WTinyLFU(10, window=1.5)
    assert S3FIFO(3).small_cap == 1  # never a zero-sized small queue


def test_zipf_skew_orders_popularity():
    low = np.bincount(zipf(50_000, 100, 0.5, seed=1), minlength=100)
    high = np.bincount(zipf(50_000, 100, 1.2, seed=1), minlength=100)
    assert high.max() > low.max()


# --- libCacheSim agreement (the reference C implementation), on trace samples -------------
TOLERANCE_PP = 0.5
AGREE = ["FIFO", "LRU", "CLOCK", "SIEVE", "ARC", "S3-FIFO"]


@pytest.mark.parametrize("trace_name, sizes", [("oltp", [200, 1000, 5000]),
                                               ("orm-busy", [100, 500, 2000])])
def test_hit_ratios_agree_with_libcachesim(trace_name, sizes):
    pytest.importorskip("libcachesim", reason="install the bench extra: pip install -e '.[bench]'")
    from cachelab.eviction.reference import compare

    trace = load_trace(trace_name, 60_000)  # a FAST-mode sample: the first 60k requests
    rows = compare(trace, sizes, AGREE + ["LFU", "Belady"])
    for row in rows:
        assert abs(row["gap_pp"]) <= TOLERANCE_PP, row


def test_wrong_types_get_errors_that_say_what_to_pass():
    with pytest.raises(TypeError, match="policy name is a str"):
        make(None, 10)
    with pytest.raises(TypeError, match="n must be a whole number"):
        zipf("10", 10, 1.0)
    with pytest.raises(TypeError, match="alpha"):
        zipf(10, 10, "1")
    with pytest.raises(TypeError, match="limit must be an int"):
        load_trace("oltp", "5")
