"""Notebook 06's plumbing: every pattern on one workload, the DB observer, the sync crash test."""

from __future__ import annotations

import pytest

from cachelab import Database
from cachelab.compare import (
    PATTERNS,
    SYNCHRONOUS,
    TTL_ONLY,
    WRITE_BEHIND,
    Running,
    behind_over_time,
    build,
    compare_patterns,
    db_lag_ms,
    queue_redis,
    sync_crash_test,
    table,
)
from cachelab.workload import Pattern


def test_lag_counts_only_polls_that_began_after_the_ack():
    polls = [(1.0, {1: 1}), (2.0, {1: 1}), (3.0, {1: 2}), (4.0, {1: 2})]
    assert db_lag_ms([(1, 2, 1.5)], polls) == [pytest.approx(500)]   # seen old at 2.0
    assert db_lag_ms([(1, 2, 0.5)], polls) == [pytest.approx(1500)]  # old at 1.0 and 2.0
    assert db_lag_ms([(1, 1, 0.5)], polls) == [0.0]                  # there before the ack
    assert db_lag_ms([(1, 2, 2.5)], polls) == [0.0]                  # next poll has it
    assert db_lag_ms([(1, 3, 2.5)], polls) == [pytest.approx(1500)]  # never seen: to the end
    assert db_lag_ms([(7, 1, 0.5)], polls) == [pytest.approx(3500)]  # a row the DB lacks


def test_behind_over_time_tracks_the_newest_ack_per_user():
    polls = [(1.0, {1: 1, 2: 1}), (2.0, {1: 2, 2: 1}), (3.0, {1: 3, 2: 2})]
    acks = [(1, 2, 0.5), (2, 2, 0.6), (1, 3, 1.5)]
    assert behind_over_time(acks, polls) == [(1.0, 2), (2.0, 2), (3.0, 0)]


def test_every_pattern_builds_with_the_uniform_surface(r, db, keys):
    qr, private = queue_redis(r, keys)
    try:
        for name in (*PATTERNS, TTL_ONLY):
            with Running(name, qr, db, keys.child(name.split()[0], len(name)), ttl=5) as run:
                p = run.pattern
                assert isinstance(p, Pattern) and p.name == name
                row = p.write(3, plan="team")
                assert row["plan"] == "team" and p.read(3)["version"] == row["version"]
                run.settle()
                assert db.get_user(3)["version"] >= row["version"]
    finally:
        if private is not None:
            private.stop()


@pytest.mark.parametrize("kw, err", [({"ttl": 0.5}, ValueError), ({"ttl": -1}, ValueError),
                                     ({"ttl": "2"}, TypeError)])
def test_bad_settings_say_what_to_do(r, db, keys, kw, err):
    with pytest.raises(err):
        build("cache-aside", r, db, keys, **kw)
    with pytest.raises(ValueError, match="choose from"):
        build("write-around", r, db, keys)
    with pytest.raises(ValueError, match="choose from"):
        compare_patterns(r, db, keys, names=["cache-aside", "nope"])


def test_one_workload_through_every_pattern(r, db, keys):
    db.latency_ms = 0
    qr, private = queue_redis(r, keys)
    try:
        runs = compare_patterns(qr, db, keys, duration_s=1.0, rate=150, threads=4, users=40,
                                write_ratio=0.2, ttl=1, latency_ms=5, flush_interval=0.1)
    finally:
        if private is not None:
            private.stop()
    rows = {row["pattern"]: row for row in table(runs)}
    assert list(rows) == list(PATTERNS)
    first = rows["cache-aside"]
    for name, row in rows.items():
        # the same requests for everyone, all answered, and the database has every write
        assert (row["reads"], row["writes"], row["errors"]) == (first["reads"], first["writes"], 0)
        assert row["writes"] > 0 and row["missing_after_drain"] == 0, name
        assert row["db_queries"] == row["db_reads"] + row["db_writes"]
    for name in SYNCHRONOUS:  # acknowledged after the commit: never seen behind, exactly 0
        assert rows[name]["writes_seen_behind"] == 0 and rows[name]["db_behind_max_ms"] == 0
    for name in WRITE_BEHIND:  # acknowledged first, written later: seen behind
        assert rows[name]["writes_seen_behind"] > 0 and rows[name]["db_behind_max_ms"] > 0
        assert rows[name]["db_writes"] < rows["write-through"]["db_writes"]
    assert rows["write-through"]["db_writes"] == 3 * rows["write-through"]["writes"]
    assert rows["write-through"]["stale_reads"] == 0
    series = runs["write-behind (memory)"]["series"]
    assert len(series["write_ms"]) == first["writes"] and max(n for _, n in series["behind"]) > 0


def test_ttl_only_cache_aside_serves_stale_reads(r, db, keys):
    db.latency_ms = 0
    runs = compare_patterns(r, db, keys, names=[TTL_ONLY], duration_s=1.0, rate=200, threads=4,
                            users=5, write_ratio=0.3, ttl=30, latency_ms=2)
    row = runs[TTL_ONLY]["summary"]
    assert row["stale_reads"] > 0 and row["max_stale_ms"] > 0


@pytest.mark.parametrize("name", ["cache-aside", "write-through"])
def test_a_sigkilled_synchronous_writer_loses_nothing_acknowledged(r, keys, tmp_path, name):
    db = Database(tmp_path / "crash.sqlite", latency_ms=5, users=50, orders=0)
    res = sync_crash_test(r, db, keys, name, kill_after=30, threads=4, users=20)
    assert res["killed"] is True and res["exit_code"] == -9
    assert res["acked"] >= 30 and res["lost"] == 0
    assert res["committed"] >= res["acked"] and res["committed_not_acked"] >= 0


def test_sync_crash_test_refuses_write_behind(r, db, keys):
    with pytest.raises(ValueError, match="write_behind.crash"):
        sync_crash_test(r, db, keys, "write-behind (memory)")
