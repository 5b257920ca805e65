"""Notebook 13 runs headless on a real local Redis Cluster and its measurements say what it claims."""

from __future__ import annotations

import pytest

from cachelab.cluster import reap
from cachelab.cluster._util import _clusters_home

from .conftest import execute


@pytest.fixture(scope="module")
def results(redis_url):
    try:
        with execute("13_scaling_out") as tb:
            yield tb.value("results")
    finally:
        # The notebook stops its cluster; if it failed midway, nothing may outlive the test.
        reap("nb13")
        assert not list((_clusters_home() / "nb13").glob("*/redis.pid"))


def test_slots_are_crc16_and_spread_evenly(results):
    slots = results["slots"]
    assert slots["crc_agrees"] and slots["check_value"] == 0x31C3
    assert len(slots["spread"]) == 3 and slots["spread_max_over_min"] < 1.2
    assert slots["slots_per_user"] == 1 and slots["distinct_user_slots"] > 900
    assert slots["one_shared_tag_masters"] == 1


def test_crossslot_raised_and_fixed(results):
    cs = results["crossslot"]
    assert cs["server_error"] == "ClusterCrossSlotError" and cs["client_error"] == "RedisClusterException"
    assert cs["tagged_mget"] == ["p42", "c42"] and cs["nonatomic"] == ["one", "two"]
    assert cs["transaction_ok"]


def test_redirects_counted_and_the_slot_cache_removes_them(results):
    red = results["redirects"]
    none, learn, full = red["none"], red["learn"], red["full"]
    for row in (none, learn, full):
        assert row["MOVED (client)"] == row["MOVED (servers)"]  # the servers confirm the tally
    assert none["MOVED (client)"] > none["commands"] / 3
    assert learn["MOVED (client)"] < none["MOVED (client)"] and learn["MOVED in 2nd half"] < 20
    assert full["MOVED (client)"] == 0
    assert red["rediscluster_steady_moved"] == 0 and red["rediscluster_after_move_moved"] >= 1
    ask = red["ask"]
    assert ask["ask"] == ask["moved_keys"] == 10 and ask["moved"] == 0 and ask["all_read"]
    assert ask["rediscluster_ok"] and ask["after_finish_moved"] == 1


def test_cache_aside_is_unchanged_and_multi_key_needs_changes(results):
    pat = results["patterns"]
    for outcome in pat["cache_aside"].values():
        assert outcome["reads"] == ["miss"] + ["hit"] * 4
        assert outcome["after_update"] == "miss" and outcome["plan"] == "pro"
        assert outcome["db_queries"] == 3  # first miss, the update, the miss after it
    assert pat["read_users"] == {"first_queries": 1, "second_queries": 0, "same": True}
    assert pat["lua"]["undeclared, same node"] == "here"
    assert "non local key" in pat["lua"]["undeclared, other node"]
    assert pat["pubsub"]["publish_bus_msgs_per_message"] == 5
    assert pat["pubsub"]["spublish_bus_msgs_per_message"] == 1
    assert pat["scan"]["one_node"] < pat["scan"]["all_masters"] == 500


def test_replica_reads(results):
    rep = results["replicas"]
    assert rep["without_readonly_redirected"] == 100
    assert rep["stale_with_wait"] == 0 and rep["wait_acked"] == rep["reads"]
    assert rep["stalled"]["wait_replicas"] == 0 and rep["stalled"]["stale_reads"] > 0
    assert rep["rediscluster_on_replicas"] == rep["rediscluster_reads"]


@pytest.mark.parametrize("which", ["failover", "failover_partial_coverage"])
def test_failover_happened_and_writes_resumed(results, which):
    f = results[which]
    assert f["failed_victim_writes"] > 0  # the crash was real
    # Liveness, not speed: None would mean writes never resumed within run_failover's limit_s.
    assert f["window_s"] is not None and f["window_s"] > 0
    assert f["pfail_s"] is not None and f["fail_s"] is not None and f["promoted_s"] is not None
    assert f["pfail_s"] <= f["fail_s"] <= f["promoted_s"]
    assert f["hit_ratio_during"] < f["hit_ratio_before"]  # the dip
    assert f["hit_ratio_after"] >= 0.99  # the promoted replica had the cache


def test_wait_confirmed_writes_survive_the_crash(results):
    g = results["guarantee"]
    # Writes resumed at all: the notebook's own liveness bound fails the cell otherwise.
    assert g["wait_replicas"] == 1 and g["lost"] == 0 and g["resumed_s"] > 0


def test_adding_a_node_moves_what_it_should(results):
    sh = results["sharding"]
    assert 0.15 < sh["ring_3_to_4"] < 0.35 and sh["modulo_3_to_4"] > 0.7
    for row in sh["sweep"]:
        assert row["ring"] < 2 * row["ideal 1/(N+1)"] and row["modulo"] > 0.45
    assert sh["real_hit_ratio"]["ring"] > 0.6 > 0.4 > sh["real_hit_ratio"]["modulo"]
    assert sh["cluster"]["moved_slots"] == 4096 and 0.18 < sh["cluster"]["moved_share"] < 0.32
    assert sh["cluster"]["hit_ratio_after"] == 1.0


def test_pitfalls_shown_live(results):
    p = results["pitfalls"]
    assert p["fixed_connection_moved"] > 100
    assert "same key slot" in p["sinter"] and p["common_tags"] == ["python", "sql"]
    fr = p["fast_restart"]
    assert fr["wait_confirmed_replicas"] == 1 and fr["restarted_node_still_master"]
    assert fr["survived_on_master"] == 0 and fr["survived_on_replica"] == 0
    li = p["lost_invalidation"]
    assert li["del_acknowledged"] == 1 and li["del_on_replicas"] == 0
    assert li["served_after_failover"] == {"plan": "free"}


def test_closing_note_gives_the_measured_window_and_dip(results):
    # The prose is built from the measurements, including whether the spec's window held.
    note, f = results["closing_note"], results["failover"]
    assert f"{f['window_s']:.2f} s" in note
    assert f"{f['hit_ratio_during']:.0%}" in note
    inside = f["spec_low_s"] <= f["promoted_s"] <= f["spec_high_s"]
    assert ("inside the" if inside else "outside the") in note


def test_self_checks_ran_and_report_unfinished_exercises(results):
    assert results["exercise_1"] is False and results["exercise_2"] is False
