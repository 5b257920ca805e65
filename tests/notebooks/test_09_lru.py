"""Notebook 09 runs headless; its measured results show the bugs, the fixes and O(1)."""

from __future__ import annotations

import pytest

from .conftest import execute


@pytest.fixture(scope="module")
def results(redis_url):
    with execute("09_lru") as tb:
        yield tb.value("results")


def test_both_builds_evict_the_least_recent_key(results):
    assert results["tiny_order"] == results["linked_order"] == ["c", "a", "d"]


def test_a_cached_none_stops_repeat_queries_only_with_a_sentinel(results):
    bug = results["none_bug"]
    assert bug["brief_queries"] == bug["lookups"]  # every lookup went to the database
    assert bug["fixed_queries"] == bug["absent"]  # one query per absent user
    assert bug["fixed_hits"] == bug["lookups"] - bug["absent"]


def test_bad_capacities_fail_at_construction(results):
    rows = {row["capacity"]: row for row in results["capacity"]}
    assert all(row["cachelab"].startswith(("TypeError", "ValueError")) for row in rows.values())
    assert rows["0"]["brief-style"].startswith("accepted")  # silently caches nothing
    assert rows["'100'"]["brief-style"].startswith("TypeError")  # late, on the first put


def test_threads_corrupt_the_unsafe_lrus_and_not_the_locked_one(results):
    race = results["race"]
    linked = race["LinkedLRU, no lock"]
    assert linked["problems"] or linked["errors"]
    assert race["OrderedDictLRU, no lock"]["errors"]
    safe = race["ThreadSafeLRU(LinkedLRU)"]
    assert safe["runs"] == 3  # three clean runs
    assert safe["errors"] == {} and safe["problems"] == [] and safe["size"] <= safe["capacity"]
    assert safe["lost_updates"] == 0


def test_statistics_match_functools(results):
    std, ours = results["stats"]["functools"], results["stats"]["cachelab"]
    assert std[0] == ours[0] and std[1] == ours[1]  # hits, misses


def test_property_tests_catch_the_planted_bug_and_pass_the_real_ones(results):
    hyp = results["hypothesis"]
    assert hyp["planted_bug_found"] and "put" in hyp["planted_bug_report"]
    assert hyp["real_failures"] == {}


def test_scaling_was_measured_for_every_build(results):
    # How the times grow is a timing claim: the notebook plots it and benchmarks/lru.py
    # --scaling prints the ratios. The test checks that every build was measured.
    growth = results["scaling"]["growth_100_to_10000"]
    assert {"ListLRU (naive, O(n))", "OrderedDictLRU", "LinkedLRU"} <= set(growth)
    assert all(g > 0 for g in growth.values())


def test_every_peer_was_measured(results):
    speed = results["speed"]["ns"]
    assert {"cachelab OrderedDictLRU", "cachetools.LRUCache", "functools.lru_cache (C)"} <= set(speed)
    assert all(row["get_hit_ns"] > 0 and row["put_evict_ns"] > 0 for row in speed.values())
    assert results["two_tier"]["redis_get_ns"] > 0 and results["two_tier"]["local_lru_ns"] > 0


def test_exercises_ship_unfinished(results):
    assert results["exercise_1"] is False and results["exercise_2"] is False
