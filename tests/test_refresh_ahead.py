"""Refresh-ahead: one refresh per key per window, a bounded pool, TTL -1/-2, on real Redis + SQLite."""

from __future__ import annotations

import threading
import time
from collections import Counter

import pytest

from cachelab.codec import CodecError
from cachelab.refresh_ahead import BriefRefreshAhead, RefreshAhead, run_load

HOT = [1, 2, 3, 4, 5]


@pytest.fixture
def slow_db(db):
    db.latency_ms = 20  # a refresh takes a real round trip, so concurrent readers overlap it
    return db


def _warm(cache, ids):
    for uid in ids:
        cache.read(uid)
    if hasattr(cache, "wait_idle"):
        cache.wait_idle()
    cache.metrics.reset()


def test_exactly_one_refresh_per_key_per_window_under_50_readers(r, slow_db, keys):
    with RefreshAhead(r, slow_db, keys, ttl=2, refresh_at=0.5, workers=4) as cache:
        _warm(cache, HOT)
        out = run_load(cache, HOT, readers=50, duration=4.5)
        cache.wait_idle()
        counts = cache.metrics.counters
        assert not out["errors"]
        assert counts["refresh_duplicates"] == 0
        # Each refresh found its key inside the window (not already refreshed by someone else).
        assert all(0 <= before <= cache.window_ms for _, _, before in cache.refresh_log)
        per_key = Counter(uid for _, uid, _ in cache.refresh_log)
        assert set(per_key) == set(HOT) and min(per_key.values()) >= 3  # ~1 per second each
        assert counts["misses"] == 0  # every window was refreshed in time: nobody missed
        assert counts["refresh_skipped"] > 100  # many readers asked; the guard said no


def test_the_brief_refreshes_each_window_many_times(r, slow_db, keys):
    brief = BriefRefreshAhead(r, slow_db, keys, ttl=2)
    _warm(brief, HOT)
    run_load(brief, HOT, readers=50, duration=3.5)
    time.sleep(0.3)  # let its last threads finish
    counts = brief.metrics.counters
    windows = counts["refreshes"] - counts["refresh_duplicates"]
    assert windows >= 1
    assert counts["refresh_duplicates"] > 5 * windows  # many refreshes per window
    assert counts["threads_started"] == counts["refreshes"]  # one new thread per read in window


def test_two_app_instances_sharing_redis_still_refresh_once(r, slow_db, keys):
    a = RefreshAhead(r, slow_db, keys, ttl=2, refresh_at=0.5)
    b = RefreshAhead(r, slow_db, keys, ttl=2, refresh_at=0.5)
    try:
        _warm(a, HOT)
        b.metrics.reset()
        runs = [threading.Thread(target=run_load, args=(c, HOT), kwargs={"readers": 25,
                "duration": 3.0}) for c in (a, b)]
        for t in runs:
            t.start()
        for t in runs:
            t.join()
        a.wait_idle()
        b.wait_idle()
        log = sorted(a.refresh_log + b.refresh_log)
        assert log and all(before <= a.window_ms for _, _, before in log)
        assert a.metrics.counters["refreshes"] > 0 and b.metrics.counters["refreshes"] > 0
    finally:
        a.close()
        b.close()


def test_the_refresh_pool_is_bounded(r, slow_db, keys):
    ids = list(range(1, 41))
    slow_db.latency_ms = 50
    with RefreshAhead(r, slow_db, keys, ttl=60, refresh_at=0.5, workers=2, max_queued=2) as cache:
        _warm(cache, ids)
        for uid in ids:  # every key now deep inside its refresh window
            r.pexpire(cache.key(uid), 10_000)
        threads_before = threading.active_count()
        readers = [threading.Thread(target=cache.read, args=(uid,)) for uid in ids]
        for t in readers:
            t.start()
        for t in readers:
            t.join()
        peak = threading.active_count()
        cache.wait_idle()
        counts = cache.metrics.counters
        assert cache.max_active <= 2
        assert counts["refreshes"] + counts["refresh_dropped"] == 40
        assert counts["refresh_dropped"] >= 40 - 4 - 2  # pool (2) + queue (2), a little slack
        assert peak <= threads_before + 2
        # A dropped request gave its window back: the next reader can still refresh it.
        dropped = [uid for uid in ids if r.pttl(cache.key(uid)) <= cache.window_ms]
        cache.read(dropped[0])
        cache.wait_idle()
        assert r.pttl(cache.key(dropped[0])) > cache.window_ms


def test_ttl_minus_one_gets_one_refresh_and_its_ttl_back(r, slow_db, keys):
    with RefreshAhead(r, slow_db, keys, ttl=30) as cache:
        _warm(cache, [7])
        r.persist(cache.key(7))  # someone cached it without a TTL
        assert r.pttl(cache.key(7)) == -1
        readers = [threading.Thread(target=cache.read, args=(7,)) for _ in range(50)]
        for t in readers:
            t.start()
        for t in readers:
            t.join()
        cache.wait_idle()
        assert cache.metrics.counters["refreshes"] == 1
        assert 0 < r.pttl(cache.key(7)) <= 30_000


def test_ttl_minus_one_on_a_deleted_row(r, slow_db, keys):
    ours = RefreshAhead(r, slow_db, keys.child("ours"), ttl=30)
    brief = BriefRefreshAhead(r, slow_db, keys.child("brief"), ttl=30)
    try:
        _warm(ours, [8])
        _warm(brief, [8])
        r.persist(ours.key(8))
        r.persist(keys.child("brief")("user", 8))
        slow_db.delete_user(8)
        for _ in range(20):
            brief.read(8)
            ours.read(8)
            ours.wait_idle()
        time.sleep(0.2)
        assert brief.metrics.counters["threads_started"] == 20  # one per read, forever
        assert brief.read(8)["id"] == 8                         # still serving a deleted user
        assert ours.metrics.counters["refresh_gone"] == 1
        assert ours.read(8) is None and r.exists(ours.key(8)) == 0
    finally:
        ours.close()


def test_ttl_minus_two_is_a_miss_loaded_once(r, slow_db, keys):
    with RefreshAhead(r, slow_db, keys, ttl=30) as cache:
        results = []
        readers = [threading.Thread(target=lambda: results.append(cache.read(9)))
                   for _ in range(50)]
        for t in readers:
            t.start()
        for t in readers:
            t.join()
        assert len(results) == 50 and all(res["id"] == 9 for res in results)
        assert cache.metrics.counters["db_queries"] == 1  # one load for 50 concurrent misses
        assert cache.metrics.counters["refreshes"] == 0


def test_a_stale_refresh_never_overwrites_a_newer_write(r, db, keys):
    with RefreshAhead(r, db, keys, ttl=30) as cache:
        old = cache.read(10)
        new = cache.write(10, plan="team")
        assert new["version"] == old["version"] + 1
        assert cache._store(old) == -3  # a refresh that loaded the row before the write
        assert cache.read(10)["plan"] == "team"


def test_refresh_ahead_off_misses_at_every_expiry(r, slow_db, keys):
    with RefreshAhead(r, slow_db, keys, ttl=1, refresh_at=None) as plain:
        _warm(plain, HOT)
        run_load(plain, HOT, readers=20, duration=2.5)
        assert plain.metrics.counters["misses"] >= len(HOT) * 2
        assert plain.metrics.counters["refreshes"] == 0


def test_bad_input_gets_a_clear_error(r, db, keys):
    with pytest.raises(ValueError, match="ttl must be positive"):
        RefreshAhead(r, db, keys, ttl=-1)
    with pytest.raises(ValueError, match="refresh_at"):
        RefreshAhead(r, db, keys, refresh_at=1.5)
    with pytest.raises(ValueError, match="workers"):
        RefreshAhead(r, db, keys, workers=0)
    with RefreshAhead(r, db, keys) as cache:
        with pytest.raises(TypeError, match="user id must be an int"):
            cache.read(None)
        before = db.get_user(3)
        with pytest.raises(CodecError):
            cache.write(3, plan=object())
        with pytest.raises(ValueError, match="update_user"):
            cache.write(3, shoe_size="44")
        assert db.get_user(3) == before  # nothing reached the database
