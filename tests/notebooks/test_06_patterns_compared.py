"""Notebook 06 runs headless; its measured comparison of the patterns holds."""

from __future__ import annotations

import pytest

from cachelab.compare import PATTERNS, SYNCHRONOUS, WRITE_BEHIND

from .conftest import execute


@pytest.fixture(scope="module")
def results(redis_url):
    with execute("06_patterns_compared") as tb:
        yield tb.value("results")


@pytest.fixture(scope="module")
def rows(results):
    return {row["pattern"]: row for row in results["table"]}


def test_one_workload_for_every_pattern(rows):
    assert list(rows) == list(PATTERNS)
    first = rows["cache-aside"]
    assert first["reads"] > 0 and first["writes"] > 0
    for name, row in rows.items():
        # the same requests, all answered, and after draining the database has every write
        assert (row["reads"], row["writes"], row["errors"]) == (first["reads"], first["writes"], 0)
        assert row["missing_after_drain"] == 0, name


def test_by_hand_write_through_is_in_the_db_at_ack_write_behind_is_not(results):
    hand = results["by_hand"]
    assert hand["write-through"]["in_db_when_acknowledged"] is True
    assert hand["write-behind (memory)"]["in_db_when_acknowledged"] is False


def test_cache_aside_and_read_through_save_database_queries(rows):
    for name in ("cache-aside", "read-through"):
        assert rows[name]["hit_ratio"] > 0 and rows[name]["db_queries"] < rows[name]["reads"]


def test_write_behind_makes_fewer_db_writes_than_write_through(rows):
    wt = rows["write-through"]
    assert wt["db_writes"] == 3 * wt["writes"]  # BEGIN, UPDATE, COMMIT per write
    for name in WRITE_BEHIND:
        assert rows[name]["db_writes"] < wt["db_writes"]
    mem = rows["write-behind (memory)"]
    assert mem["db_writes"] < mem["writes"]  # coalesced and batched per flush


def test_the_database_trails_only_under_write_behind(rows):
    for name in SYNCHRONOUS:
        assert rows[name]["writes_seen_behind"] == 0 and rows[name]["db_behind_max_ms"] == 0
    for name in WRITE_BEHIND:
        assert rows[name]["writes_seen_behind"] > 0 and rows[name]["db_behind_max_ms"] > 0


def test_write_through_serves_no_stale_reads_ttl_only_does(results, rows):
    assert rows["write-through"]["stale_reads"] == 0
    assert results["ttl_only"]["stale_reads"] > 0 and results["ttl_only"]["max_stale_ms"] > 0


def test_always_fast_ends_at_the_ttl(results):
    by = {(row["pattern"], row["ttl_s"]): row for row in results["always_fast"]}
    short = results["load"]["ttl"]
    for name in ("write-through", "write-behind (memory)", "refresh-ahead"):
        assert by[name, short]["hit_ratio"] < 1 and by[name, short]["db_reads"] > 0
        assert by[name, 3600]["hit_ratio"] == 1 and by[name, 3600]["db_reads"] == 0


def test_crash_losses(results):
    crash = results["crash"]
    assert crash["memory"]["killed"] is True and crash["memory"]["lost"] > 0
    durable = crash["durable"]
    assert durable["mid_batch_kills"] == 3 and durable["lost"] == 0 and durable["errors"] == 0
    assert durable["db_rows"] == durable["distinct_db_rows"] == durable["acked"] == durable["writes"]
    for name in SYNCHRONOUS:
        sync = crash["sync"][name]
        assert sync["killed"] is True and sync["acked"] >= 60 and sync["lost"] == 0
        assert crash["lost"][name] == 0
    assert crash["lost"]["write-behind (memory)"] > 0 and crash["lost"]["write-behind (stream)"] == 0


def test_verdicts_follow_the_measurements(results):
    verdicts = {(c["pattern"], c["brief says"]): c["verdict"] for c in results["claims"]}
    assert verdicts["write-through", "read: always fast"] == "disagrees"
    assert verdicts["write-through", "consistency: strong"] == "agrees"
    assert verdicts["write-behind (memory)", "best for: can tolerate loss"] == "agrees"
    assert verdicts["write-behind (stream)", "best for: can tolerate loss"] == "disagrees"


def test_self_checks_report_unfinished_exercises(results):
    assert results["exercise_1"] is False and results["exercise_2"] is False
