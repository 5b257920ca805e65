"""Notebook 02 runs headless; concurrent misses coalesce, batches make one query."""

from __future__ import annotations

import pytest

from .conftest import execute


@pytest.fixture(scope="module")
def results(redis_url):
    with execute("02_read_through") as tb:
        yield tb.value("results")


def test_read_through_by_hand(results):
    assert results["tiny"] == {"db_queries": 1, "same": True}


def test_concurrent_misses_of_one_key_make_one_query(results):
    b = results["burst"]
    assert b["read-through + single-flight"]["db_queries"] == 1
    assert b["read-through, no coalescing"]["db_queries"] > 1
    assert b["cache-aside (01)"]["db_queries"] > 1


def test_single_flight_is_per_process(results):
    p = results["processes"]
    assert p["db_queries"] == [1] * p["processes"]


def test_get_many_batches_misses(results):
    b = results["batch"]
    assert b["single_db_queries"] == b["ids"] and b["batched_db_queries"] == 1


def test_race_and_loader_errors(results):
    assert results["race"]["stale"] is False
    assert results["race"]["next_read_version"] == results["race"]["db_version"]
    e = results["loader_error"]
    assert e["burst_errors"] == 10 and e["loader_calls"] == 2 and e["cached_after"] is True


def test_reads_keep_working_with_redis_stopped(results):
    o = results["outage"]
    assert o["errors"] == 0 and o["wrong"] == 0 and o["down_reads"] > 0
    assert o["hits_after_restart"] > 0


def test_exercises_ship_unfinished(results):
    assert results["exercise_1"] is False and results["exercise_2"] is False
