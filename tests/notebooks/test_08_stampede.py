"""Notebook 08 runs headless; its measured counts show each defence's effect."""

from __future__ import annotations

import statistics

import pytest

from .conftest import execute


@pytest.fixture(scope="module")
def nb(redis_url):
    with execute("08_stampede") as tb:
        yield tb


@pytest.fixture(scope="module")
def results(nb):
    return nb.value("results")


@pytest.fixture(scope="module")
def table(results):
    return {row["defence"]: row for row in results["table"]}


def test_no_protection_sends_many_queries_per_expiry(results, table):
    naive = results["naive"]
    assert len(naive["per_expiry"]) >= 2
    assert min(naive["per_expiry"]) >= 5            # predicted: rate x recompute time
    assert naive["predicted"] >= 10
    assert min(results["bench_none"]["per_expiry"]) >= 5
    assert table["none"]["queries_per_expiry"] >= 10


def test_lock_recomputes_exactly_once_per_expiry(results, table):
    assert results["lock_by_hand"]["per_expiry"] == [1] * len(results["lock_by_hand"]["per_expiry"])
    lock = results["lock_processes"]
    assert lock["pids"] == lock["processes"] > 1     # really several worker processes
    assert lock["per_expiry"] == [1] * lock["expiries"] and lock["waited"] > 0
    assert lock["error"] == 0
    for name in ("lock", "lock+single-flight"):
        assert table[name]["per_expiry"] == [1] * table[name]["expiries"], name
    for row in results["waiting_cost"]:
        assert set(row["per_expiry"]) == {1}


def test_single_flight_is_one_per_process(table):
    sf = table["single-flight"]
    assert sf["bursts"] == sf["expiries"]
    assert max(sf["per_expiry"]) <= sf["processes"]


def test_xfetch_recomputes_a_few_times_early_and_nobody_waits(results, table):
    xf = table["xfetch"]
    assert xf["waited"] == 0 and xf["stale"] == 0 and xf["early"] > 0
    for row in results["beta_sweep"]:
        if row["rule"] == "xfetch":
            low, high = row["claimed_range"]
            assert row["waited"] == 0
            assert low <= row["mean_per_expiry"] <= high, row


def test_the_brief_rule_costs_far_more_than_xfetch(results):
    sweep = results["beta_sweep"]
    brief = {row["beta"]: row["mean_per_expiry"] for row in sweep if row["rule"] != "xfetch"}
    xfetch = {row["beta"]: row["mean_per_expiry"] for row in sweep if row["rule"] == "xfetch"}
    assert min(brief.values()) >= 5
    assert statistics.mean(brief.values()) > 3 * statistics.mean(xfetch.values())


def test_refresh_and_stale_while_revalidate_never_make_anyone_wait(table):
    for name in ("refresh-ahead", "swr"):
        row = table[name]
        assert set(row["per_expiry"]) == {1}, name
        assert row["hit"] + row["stale"] >= 0.99 * row["requests"], name
    assert table["swr"]["stale"] > 0 and table["swr"]["waited"] == 0


def test_pitfalls_shown_live(results):
    assert results["race"]["c_would_recompute"] is True and results["race"]["fixed_state"] == 1
    assert results["del_without_token"] == {"brief_freed_other": True, "ours_freed_other": False}
    rec = results["recursion"]
    assert rec["brief_error"] == "RecursionError"
    assert rec["ours_waits"] >= 10_000 and rec["ours_outcome"] == "waited"
    dead = results["dead_holder"]
    assert dead["outcome"] == "miss" and dead["left_s"] > 0
    assert dead["waited_s"] >= dead["left_s"] - 0.01  # nobody got in before the TTL ran out
    # Jitter's mechanism, read back from Redis (PTTL right after the batch write): one expiry
    # instant without it, a spread of hundreds of ms with it. The per-100 ms peaks it causes are
    # quoted by the notebook, not asserted: a loaded machine that stalls the load generator for
    # longer than the spread turns any slope back into a burst.
    jit = results["jitter"]
    assert jit["expiry_span_ms_no_jitter"] < 50
    assert jit["expiry_span_ms_jitter"] > 4 * 50
    assert jit["queries_no_jitter"] >= jit["keys"] and jit["queries_jitter"] >= jit["keys"]


def test_peers_ran_on_the_same_workload(results):
    peers = results["peers"]
    assert len(peers) == 3
    for row in peers:
        # About one query per expiry; dogpile.cache may regenerate twice now and then (it does
        # not re-read the cache after taking its lock when a stale value exists).
        assert row["error"] == 0 and row["queries_per_expiry"] < 3, row["defence"]


def test_run_stampede_with_other_settings(nb):
    run = nb.ref("run_stampede")
    none = run("none", rate=300, clients=40, live=False)
    assert none["rate"] == 300 and min(none["per_expiry"]) >= 3
    lock = run("lock", rate=300, clients=40, processes=2, live=False)
    assert lock["per_expiry"] == [1] * lock["expiries"] and lock["processes"] == 2
    sf = run("single-flight", clients=30, processes=3, live=False)
    assert max(sf["per_expiry"]) <= 3
    xf = run("xfetch", beta=2.0, live=False)
    assert xf["waited"] == 0 and xf["beta"] == 2.0


def test_the_panel_is_reachable_and_runs(nb):
    assert nb.value("run_button.description") == "Run"
    assert nb.value("type(fig).__name__") == "FigureWidget"
    nb.inject("controls['defence'].value = 'swr'; panel.run()")
    assert nb.value("history['swr ×1']['per_expiry']") == [1] * nb.value("EXPIRIES")
    assert nb.value("len(fig.data[0].x)") > 0       # the figure was redrawn in place


def test_exercises_ship_unfinished(results):
    assert [results[f"exercise_{n}"] for n in (1, 2, 3)] == [False, False, False]
