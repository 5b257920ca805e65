"""Notebook 03 runs headless; the brief's rollback fails under real faults, ours never disagrees."""

from __future__ import annotations

import pytest

from .conftest import execute


@pytest.fixture(scope="module")
def results(redis_url):
    with execute("03_write_through") as tb:
        yield tb.value("results")


def test_by_hand_write_then_hit(results):
    assert results["by_hand"] == {"statements": 3, "hit_after_write": True}


def test_reads_after_ttl_fall_back_to_the_database(results):
    t = results["after_ttl"]
    assert t["brief"] is None                     # the brief: a user who exists reads as None
    assert t["ours_plan"] == t["db_plan"] == "pro"


def test_brief_rollback_is_not_atomic(results):
    s = results["scenarios"]
    assert s["brief_3a"]["B's write kept"] is False and s["brief_3a"]["agree"] is False, s["brief_3a"]
    assert s["brief_3b"]["agree"] is False and s["brief_3b"]["cache holds"] == "team", s["brief_3b"]
    assert s["brief_3c"]["agree"] is False, s["brief_3c"]


def test_ours_keeps_writes_and_agrees(results):
    s = results["scenarios"]
    assert s["ours_3a"]["B's write kept"] is True, s["ours_3a"]
    assert s["ours_3a"]["agree"] is True, s["ours_3a"]
    assert s["ours_3a"]["A was told"] == "OK"
    assert s["ours_3b"]["agree"] is True and s["ours_3b"]["A was told"] == "CacheWriteFailed"
    assert s["ours_3c"]["agree"] is True


def test_no_disagreement_after_injected_cache_failures(results):
    t = results["torture"]
    assert set(t["faults"]) == {"none", "refusing_writes", "hung", "stopped"}
    assert t["ours_disagreements"] == 0 and t["ours_disagreements_after_normal_return"] == 0
    assert t["ours_db_has_every_write"] is True
    assert t["ours_told"] > 0 and t["ours_normal"] > 0
    assert t["brief_disagreements"] > 0


def test_write_through_reads_hit_after_writes(results):
    c = results["compare"]
    wt, ca = c["write-through"], c["cache-aside"]
    assert wt["errors"] == 0 and ca["errors"] == 0
    assert wt["stale_reads"] == 0 and ca["stale_reads"] == 0
    assert wt["hit_ratio"] > ca["hit_ratio"]


def test_reads_work_with_redis_stopped(results):
    d = results["down"]
    assert d["reads_ok"] is True and d["write"].startswith("CacheWriteFailed")
    assert d["db_plan"] == "team" and d["hits_after_restart"] > 0


def test_exercises_ship_unfinished(results):
    assert results["exercise_1"] is False and results["exercise_2"] is False
