"""Write-through: the brief's rollback under real faults, and a design where DB and cache agree."""

from __future__ import annotations

import random
import time
from contextlib import ExitStack

import pytest

from cachelab import Keys, loads
from cachelab.breaker import CircuitBreaker, fast_fail_client
from cachelab.faults import hung, refusing_writes, stopped
from cachelab.write_through import BriefRollback, BriefWriteThrough, CacheWriteFailed, WriteThrough


@pytest.fixture
def client(private_redis):
    return fast_fail_client(private_redis.url, timeout=0.2)


def ours(client, db, **kw):
    kw.setdefault("breaker", CircuitBreaker(threshold=3, reset_after=0.05))
    return WriteThrough(client, db, Keys("t"), ttl=60, **kw)


def agrees(store, db, uid) -> bool:
    raw = store.raw(uid)
    return raw is None or raw == "tombstone" or raw == db.get_user(uid)


def wait_for(cond, timeout=10.0):
    deadline = time.monotonic() + timeout
    while not cond() and time.monotonic() < deadline:
        time.sleep(0.02)
    return cond()


def test_write_then_read_is_a_hit(r, db, keys):
    wt = WriteThrough(r, db, keys, ttl=30)
    row = wt.update(5, plan="team")
    assert wt.store.raw(5) == row == db.get_user(5)
    assert wt.get(5) == row and wt.metrics.counters["hits"] == 1
    assert wt.metrics.counters["db_queries"] == 3  # BEGIN, UPDATE ... RETURNING, COMMIT
    new = wt.create("Barbara Liskov", "barbara@example.com", plan="pro")
    assert wt.get(new["id"]) == new == db.get_user(new["id"])


def test_brief_returns_nothing_after_ttl_ours_falls_back_to_the_db(r, db, keys):
    brief = BriefWriteThrough(r, db, keys.child("brief"), ttl=0.2)
    wt = WriteThrough(r, db, keys.child("ours"), ttl=0.2, spread=0)
    brief.update(3, plan="pro")
    wt.update(3, plan="pro")
    assert wait_for(lambda: not r.exists(brief.key(3), wt.store.key(3)))  # real expiry
    assert brief.get(3) is None
    assert wt.get(3) == db.get_user(3)


def test_brief_rollback_loses_a_concurrent_write_and_leaves_disagreement(private_redis, client, db):
    brief, other = (BriefWriteThrough(client, db, Keys("t")) for _ in range(2))
    with ExitStack() as faults:
        def between(uid, row):
            other.update(uid, email="second@example.com")  # a concurrent writer succeeds
            faults.enter_context(refusing_writes(private_redis))  # then the cache fails
        brief.between_steps = between
        with pytest.raises(BriefRollback):
            brief.update(7, plan="team")
    db_row, cached = db.get_user(7), loads(client.get(brief.key(7)))
    assert db_row["email"] != "second@example.com"   # the second writer was told OK: lost
    assert cached["email"] == "second@example.com" and cached["plan"] == "team"
    assert cached != db_row                          # and cache and DB disagree


def test_ours_keeps_both_writes_and_leaves_no_disagreement(private_redis, client, db):
    wt, other = ours(client, db), ours(client, db)
    with ExitStack() as faults:
        def between(uid, row):
            other.update(uid, email="second@example.com")
            faults.enter_context(refusing_writes(private_redis))
        wt.between_steps = between
        row = wt.update(7, plan="team")  # returns normally: the key was invalidated
    db_row = db.get_user(7)
    assert db_row["email"] == "second@example.com" and db_row["plan"] == "team"
    assert row["version"] < db_row["version"] or row == db_row
    assert agrees(wt.store, db, 7) and wt.get(7) == db_row
    c = wt.metrics.counters  # refused (a newer row is cached) or failed and invalidated
    assert c["fills_refused"] + c["cache_write_failed"] == 1


def test_brief_failed_cache_write_lands_after_the_rollback(private_redis, client, db):
    brief = BriefWriteThrough(client, db, Keys("t"))
    brief.get(8)  # a connection is open already, as in any running application
    with ExitStack() as faults:
        brief.between_steps = lambda uid, row: faults.enter_context(hung(private_redis))
        with pytest.raises(BriefRollback):
            brief.update(8, plan="team")  # the SET times out; the DB is "rolled back"
    admin = private_redis.client()
    assert wait_for(lambda: admin.get(brief.key(8)) is not None)  # ...but the SET ran
    cached, db_row = loads(admin.get(brief.key(8))), db.get_user(8)
    assert cached["plan"] == "team" and db_row["plan"] != "team"


def test_ours_under_a_hung_server_tells_the_caller_and_converges(private_redis, client, db):
    wt = ours(client, db)
    wt.get(8)
    with ExitStack() as faults:
        wt.between_steps = lambda uid, row: faults.enter_context(hung(private_redis))
        with pytest.raises(CacheWriteFailed) as info:
            wt.update(8, plan="team")
    assert info.value.row == db.get_user(8)            # the change is committed
    assert wt.get(8) == db.get_user(8)                 # and this process reads it
    assert wait_for(lambda: (wt.get(8), not wt.store.pending)[1])
    assert agrees(wt.store, db, 8)


def test_concurrent_writers_out_of_order(r, db, keys):
    for cls, expect_stale in ((BriefWriteThrough, True), (WriteThrough, False)):
        first, second = cls(r, db, keys.child(cls.__name__)), cls(r, db, keys.child(cls.__name__))
        # the first writer commits, then the second commits and caches, then the first caches
        first.between_steps = lambda uid, row, s=second: s.update(uid, plan="pro")
        first.update(9, plan="team")
        cached = loads(r.get(first.keys("user", 9) if cls is BriefWriteThrough
                             else first.store.key(9)))
        stale = cached["version"] < db.get_user(9)["version"]
        assert stale is expect_stale, cls.__name__


def test_no_disagreement_after_many_injected_cache_failures(private_redis, client, db):
    rng = random.Random(7)
    wt = ours(client, db)
    faults = [None, None, refusing_writes, hung, stopped]
    last_name: dict[int, str] = {}
    told = normal = 0
    for i in range(30):
        uid = rng.randint(1, 5)
        fault = rng.choice(faults)
        wt.get(uid)  # often cached before the write
        with ExitStack() as stack:
            if fault is not None:
                wt.between_steps = lambda u, row, f=fault: stack.enter_context(f(private_redis))
            else:
                wt.between_steps = None
            try:
                wt.update(uid, name=f"write {i}")
                normal += 1
                returned_normally = True
            except CacheWriteFailed:
                told += 1
                returned_normally = False
            if returned_normally and fault is not hung:
                assert agrees(wt.store, db, uid), f"write {i} under {fault}"
        last_name[uid] = f"write {i}"  # committed either way: the DB never rolls back
        assert wait_for(lambda u=uid: (wt.get(u), not wt.store.pending)[1])
        assert agrees(wt.store, db, uid), f"write {i} under {fault}"
    assert told > 0 and normal > 0
    for uid, name in last_name.items():
        assert db.get_user(uid)["name"] == name       # no acknowledged write lost
        assert agrees(wt.store, db, uid)


def test_reads_work_and_writes_are_reported_with_redis_stopped(private_redis, client, db):
    wt = ours(client, db)
    wt.update(2, plan="pro")
    private_redis.stop()
    assert wt.get(2) == db.get_user(2)
    with pytest.raises(CacheWriteFailed):
        wt.update(2, plan="team")
    assert db.get_user(2)["plan"] == "team" and wt.get(2)["plan"] == "team"
    private_redis.start()
    assert wait_for(lambda: (wt.get(2), wt.metrics.counters["hits"] > 0)[1])


def test_bad_input(r, db, keys):
    wt = WriteThrough(r, db, keys, ttl=30)
    before = db.get_user(1)
    with pytest.raises(TypeError, match="must be an int"):
        wt.update(None, plan="pro")
    with pytest.raises(TypeError, match="must be a str"):
        wt.update(1, plan=["pro"])
    with pytest.raises(ValueError, match="takes some of"):
        wt.update(1, id="2")
    with pytest.raises(ValueError):
        WriteThrough(r, db, keys, ttl=-1)
    with pytest.raises(TypeError):
        wt.create("x", "x@example.com", plan=object())
    with pytest.raises(TypeError, match="name must be a str"):
        wt.create(None, "x@example.com")
    assert db.get_user(1) == before
