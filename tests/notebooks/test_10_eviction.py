"""Notebook 10 runs headless; its simulations agree with hand checks, the ARC paper and
libCacheSim, and the live Redis replay measures approximated LRU and restores the server."""

from __future__ import annotations

import pytest

from .conftest import execute

AGREE = {"FIFO", "LRU", "CLOCK", "SIEVE", "ARC", "S3-FIFO"}


@pytest.fixture(scope="module")
def results(redis_url):
    with execute("10_eviction") as tb:
        yield tb.value("results")


def test_tiny_traces_give_the_hand_checked_hits(results):
    tiny = results["tiny"]
    assert tiny["anomaly, 3 slots"]["FIFO"] == 3 and tiny["anomaly, 4 slots"]["FIFO"] == 2
    assert tiny["anomaly, 3 slots"]["Belady"] == 5
    scan = tiny["scan, 3 slots"]
    assert scan == {"FIFO": 2, "LRU": 2, "LFU": 4, "CLOCK": 2, "SIEVE": 2, "ARC": 4,
                    "S3-FIFO": 3, "W-TinyLFU": 4, "Belady": 4}


def _at_each_size(res):
    names = list(res["curves"])
    return [{name: res["curves"][name][i] for name in names} for i in range(len(res["sizes"]))]


@pytest.mark.parametrize("workload", ["zipf", "scan"])
def test_belady_bounds_every_policy_and_lru_never_loses_from_more_memory(results, workload):
    res = results[workload]
    for row in _at_each_size(res):
        assert row["Belady"] >= max(row.values()) - 1e-12
    lru = res["curves"]["LRU"]
    assert lru == sorted(lru)  # a stack algorithm


def test_frequency_wins_on_zipf_and_scans_hurt_lru(results):
    zipf = results["zipf"]["curves"]
    assert zipf["W-TinyLFU"][0] > zipf["LRU"][0] and zipf["LFU"][0] > zipf["LRU"][0]
    scan = results["scan"]
    small = [i for i, size in enumerate(scan["sizes"]) if size <= 1000]
    for name in ("ARC", "S3-FIFO", "W-TinyLFU"):
        assert all(scan["curves"][name][i] > scan["curves"]["LRU"][i] + 0.03 for i in small), name


def test_real_traces_lfu_collapses_on_orm_busy(results):
    orm = results["real"]["orm-busy"]["curves"]
    assert orm["LFU"][0] < 0.5 * orm["LRU"][0]
    for res in results["real"].values():
        for row in _at_each_size(res):
            assert row["Belady"] >= max(row.values()) - 1e-12


def test_lru_reproduces_the_arc_paper(results):
    for row in results["arc_paper"]:
        assert row["cachelab LRU %"] == pytest.approx(row["paper LRU %"], abs=0.005)
        assert row["cachelab ARC %"] == pytest.approx(row["paper ARC %"], abs=0.05)


def test_cachelab_agrees_with_libcachesim(results):
    rows = results["validation"]
    if not rows:
        pytest.skip("libcachesim not installed: the notebook skipped the comparison")
    checked = [row for row in rows if row["policy"] in AGREE]
    assert {row["policy"] for row in checked} == AGREE
    for row in checked:
        assert abs(row["gap_pp"]) <= 0.5, row


def test_simulator_speed_was_measured(results):
    for rates in results["sim_speed"].values():
        assert rates["generic_access"] > 0 and rates["fast_path"] > 0


def test_redis_replay_measured_the_clock_effect_and_restored_settings(results):
    redis = results["redis"]
    assert redis["settings_after"] == redis["settings_before"]
    assert all(n > 0 for n in redis["evicted"])
    row = next(r for r in redis["rows"] if r["setting"] == "allkeys-lru, samples 10")
    exact = row["exact LRU, same size"]
    assert row["Redis measured"] < exact - 0.01  # at full speed, not LRU
    assert abs(row["sampled LRU sim, exact clock"] - exact) < 0.01  # the redis.io picture
    measured = row["Redis measured"]
    assert abs(measured - row["sampled LRU sim, 1-s clock"]) < abs(measured - row["sampled LRU sim, exact clock"])


def test_closing_note_and_unfinished_exercises(results):
    assert "Redis allkeys-lru samples 10 vs exact LRU (pp)" in results["closing"]
    assert results["exercise_1"] is False and results["exercise_2"] is False
