"""Notebook 04 runs headless; its measured write-behind effects hold."""

from __future__ import annotations

import pytest

from .conftest import execute


@pytest.fixture(scope="module")
def results(redis_url):
    with execute("04_write_behind") as tb:
        yield tb.value("results")


def test_by_hand_batching_and_coalescing_cut_queries(results):
    hand = results["by_hand"]
    assert hand["write_through_queries"] == hand["writes"]
    assert hand["flushed_rows"] == 10
    assert hand["write_behind_queries"] == 10 + 1  # one load per user, one flush statement
    assert hand["final_state_ok"] is True


def test_partial_update_merges_and_dirty_records_are_pinned(results):
    merge = results["merge"]
    assert merge["kept_other_fields"] is True and merge["db_plan"] == "team"
    assert merge["ttl_dirty"] == -1 and merge["ttl_clean"] > 0
    assert results["brief_merge"]["cached"] == {"id": 7, "plan": "team"}


def test_the_brief_queries_per_write_ours_per_batch(results):
    c = results["coalescing"]
    assert c["brief_queries"] == c["writes"]
    assert c["ours_statements"] * 10 <= c["writes"]  # at least the batch factor fewer


def test_failed_batches(results):
    replay = results["brief_replay"]
    assert replay["user1_applied"] >= 2 and replay["user4_written"] is False
    assert results["ours_refused"] == {"failed": [3], "user4_written": True}


def test_exit_and_crash_losses(results):
    assert results["exit"]["brief_lost"] > 0 and results["exit"]["ours_lost"] == 0
    mem = results["memory_crash"]
    assert mem["killed"] is True and mem["lost"] > 0 and mem["lost_but_in_cache"] == mem["lost"]


def test_stream_recovery_by_hand(results):
    assert results["stream_by_hand"] == {"pending_after_crash": 3, "claimed": 3,
                                         "pending_after_ack": 0}


def test_eviction_policy_decides_whether_the_queue_survives(results):
    ev = results["eviction"]
    assert ev["allkeys-lru"]["lost"] > 0
    assert ev["noeviction"]["lost"] == 0 and ev["noeviction"]["writes_refused_with_error"] == 1


def test_durable_crash_test_loses_nothing(results):
    d = results["durable_crash"]
    assert d["mid_batch_kills"] == 3 and sum(k["stranded"] for k in d["kills"]) > 0
    assert d["lost"] == 0 and d["errors"] == 0
    assert d["db_rows"] == d["distinct_db_rows"] == d["acked"] == d["writes"]
    assert d["pending"] == 0 and d["stream_len"] == 0 and d["dead"] == 0
    assert d["wrong_rows"] == 0 and d["redelivered_already_committed"] > 0


def test_dead_letters(results):
    dl = results["dead_letters"]
    assert dl["count"] == 1 and dl["ids"] == ["3"] and dl["user4_plan"] == "team"


def test_write_paths_compared(results):
    cmp = results["compare"]
    wt, mem, stream = cmp["write-through"], cmp["memory"], cmp["stream"]
    assert wt["db_write_statements"] == wt["writes"]  # one round trip per write
    for wb in (mem, stream):
        assert wb["writes"] == wt["writes"]
        assert wb["db_write_statements"] * 10 <= wb["writes"]


def test_self_checks_report_unfinished_exercises(results):
    assert results["exercise_1"] is False and results["exercise_2"] is False
