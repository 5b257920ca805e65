"""Notebook 01 runs headless; its measured effects are the ones it teaches."""

from __future__ import annotations

import pytest

from .conftest import execute


@pytest.fixture(scope="module")
def results(redis_url):
    with execute("01_cache_aside") as tb:
        yield tb.value("results")


def test_by_hand_pattern_hits_and_invalidates(results):
    by_hand = results["by_hand"]
    assert by_hand["db_queries"] == 3  # one miss, one update, one read after the update
    assert by_hand["fresh_after_update"] is True
    assert results["basics"] == {"hits": 7, "misses": 3, "db_queries": 3}


def test_hit_ratio_rises_with_ttl_and_stale_reads_need_invalidation(results):
    sweep = results["ttl_sweep"]
    for invalidate in (True, False):
        ratios = [row["hit_ratio"] for row in sweep if row["invalidate"] is invalidate]
        assert ratios == sorted(ratios) and ratios[-1] - ratios[0] > 0.2, ratios
    assert all(row["errors"] == 0 for row in sweep)
    assert all(row["stale_reads"] == 0 for row in sweep if row["invalidate"])
    ttl_only = [row for row in sweep if not row["invalidate"]]
    assert ttl_only[-1]["stale_reads"] > 0
    assert results["experiment"]["errors"] == 0 and results["experiment"]["reads"] > 0


def test_jitter_flattens_the_expiry_spike(results):
    jitter = results["jitter"]
    assert jitter["spread_0.0"]["peak_per_100ms"] > jitter["spread_0.5"]["peak_per_100ms"]


def test_negative_caching_stops_penetration(results):
    p = results["penetration"]
    assert p["plain_db_queries"] == p["reads"]
    assert p["negative_db_queries"] == p["distinct"]
    assert results["negative_then_create"] is True


def test_race_reproduced_without_fix_and_gone_with_it(results):
    race = results["race"]
    assert race["naive_stale"] == len(race["naive"]) == 5
    assert all(run["next_read_version"] < run["db_version"] for run in race["naive"])
    assert race["fixed_stale"] == 0 and race["fills_refused"] == 5
    assert all(run["next_read_version"] == run["db_version"] for run in race["fixed"])


def test_reads_keep_working_with_redis_stopped(results):
    o = results["outage"]
    assert o["brief_error"] == "ConnectionError"  # the brief's read fails outright
    assert o["errors"] == 0 and o["wrong"] == 0 and o["down_reads"] > 0
    assert o["breaker_opened"] >= 1 and o["redis_skipped"] > o["redis_errors"]
    assert o["hits_after_restart"] > 0            # caching resumed by itself
    hung = results["hung"]
    assert hung["timeouts"] == 3 and hung["skipped"] == hung["reads"] - 3


def test_decorator_reuses_its_client(results):
    d = results["decorator"]
    assert d["brief_connections"] >= d["calls"]
    assert d["our_connections"] == 0
    assert d["our_hits"] == d["calls"]


def test_exercises_ship_unfinished(results):
    assert results["exercise_1"] is False and results["exercise_2"] is False
