"""Write-behind: merging, coalescing, batching, flushing, and crash safety, on real Redis + SQLite."""

from __future__ import annotations

import datetime
import sqlite3
import threading
import time

import pytest
import redis

from cachelab.codec import CodecError
from cachelab.server import connect
from cachelab.write_behind import (
    BriefWriteBehind,
    MemoryWriteBehind,
    QueueNotSafe,
    StreamWorker,
    StreamWriteBehind,
    check_queue_safety,
    queue_keys,
)
from cachelab.write_behind.crash import durable_crash_test, exit_test, memory_crash_test


@pytest.fixture
def qr(private_redis):
    """A Redis of this test's own for the durable queue (policy noeviction, nothing shared)."""
    client = connect(private_redis.url)
    yield client
    client.close()


def _upserts(db) -> int:
    """INSERT statements the database actually ran (the write-behind flushes)."""
    with open(db.log_path) as fh:
        return sum(1 for _ in fh)


# -- the in-memory variant ------------------------------------------------------------------------

def test_partial_update_merges_into_the_cached_object(r, db, keys):
    with MemoryWriteBehind(r, db, keys) as wb:
        before = wb.read(7)
        after = wb.write(7, plan="team")
        assert after["plan"] == "team"
        assert {k: after[k] for k in ("name", "email", "country")} == \
               {k: before[k] for k in ("name", "email", "country")}
        assert after["version"] == before["version"] + 1
    row = db.get_user(7)
    assert row["plan"] == "team" and row["name"] == before["name"]


def test_the_brief_replaces_the_cached_object(r, db, keys):
    wb = BriefWriteBehind(r, db, keys)
    try:
        wb.update_user(7, {"plan": "team"})
        cached = wb.read(7)
        assert cached == {"id": 7, "plan": "team"}  # name, email, country: gone from the cache
    finally:
        wb.stop()


def test_coalescing_and_batching_cut_db_queries_by_the_batch_factor(r, db, keys):
    batch, writes, hot = 50, 1000, 20
    with MemoryWriteBehind(r, db, keys, batch_size=batch, flush_interval=30) as wb:
        for uid in range(1, hot + 1):
            wb.read(uid)  # warm: each user cached once
        db.reset_counters()
        last = {}
        for i in range(writes):
            uid = 1 + i % hot
            wb.write(uid, plan=f"p{i}")
            last[uid] = f"p{i}"
        wb.flush()
        queries = db.query_count
        assert wb.metrics.counters["coalesced"] == writes - hot
    assert queries * batch <= writes  # at least the batch factor fewer than one per write
    assert queries == 1  # 1000 writes to 20 users coalesce into one 20-row statement
    for uid, plan in last.items():
        assert db.get_user(uid)["plan"] == plan


def test_batching_without_repeats_uses_one_query_per_batch(r, db, keys):
    batch, writes = 25, 200
    with MemoryWriteBehind(r, db, keys, batch_size=batch, flush_interval=30) as wb:
        for uid in range(1, writes + 1):
            wb.read(uid)
        db.reset_counters()
        for uid in range(1, writes + 1):
            wb.write(uid, country="FR")
        wb.flush()
        assert db.query_count <= writes // batch + 1
        assert all(n <= batch for _, n in wb.flush_log)
    assert db.count("users") == 200
    with db.latency(0):
        assert db.query("SELECT COUNT(*) AS n FROM users WHERE country = 'FR'")[0]["n"] == writes


def test_the_brief_makes_one_query_per_write(r, db, keys):
    wb = BriefWriteBehind(r, db, keys, batch_size=50)
    try:
        for i in range(100):
            wb.update_user(1 + i % 5, {"plan": f"p{i}"})
        deadline = time.monotonic() + 20
        while wb.metrics.counters["db_queries"] < 100 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert wb.metrics.counters["db_queries"] == 100  # 5 users, 100 queries: no coalescing
    finally:
        wb.stop()


def test_the_brief_replays_a_failed_batch_blindly(r, db, keys):
    taken = db.get_user(2)["email"]
    before = db.get_user(1)["version"]
    wb = BriefWriteBehind(r, db, keys, batch_size=3)
    try:
        wb.update_user(1, {"plan": "pro"})
        wb.update_user(3, {"email": taken})  # violates UNIQUE(email): fails every time
        wb.update_user(4, {"plan": "pro"})
        deadline = time.monotonic() + 10
        while wb.metrics.counters["errors"] < 5 and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        wb.stop()
    assert wb.metrics.counters["errors"] >= 5
    assert db.get_user(1)["version"] - before >= 5  # one write applied again and again
    assert db.get_user(4)["plan"] != "pro"          # stuck behind the poison write


def test_a_refused_row_is_isolated_and_the_rest_of_the_batch_lands(r, db, keys):
    taken = db.get_user(2)["email"]
    with MemoryWriteBehind(r, db, keys, batch_size=10, flush_interval=30) as wb:
        wb.write(1, plan="pro")
        wb.write(3, email=taken)
        wb.write(4, plan="pro")
        wb.flush()
        assert [row["id"] for row, _ in wb.failed] == [3]
        assert "UNIQUE" in wb.failed[0][1]
        assert wb.read(3)["email"] != taken  # the refused state left the cache too
    assert db.get_user(1)["plan"] == "pro" and db.get_user(4)["plan"] == "pro"


def test_concurrent_writers_leave_cache_and_database_equal(r, db, keys):
    threads, per_thread, hot = 8, 100, 10
    with MemoryWriteBehind(r, db, keys, batch_size=20, flush_interval=0.01) as wb:
        start_versions = {uid: wb.read(uid)["version"] for uid in range(1, hot + 1)}

        def hammer(t):
            for i in range(per_thread):
                wb.write(1 + (i + t) % hot, plan=f"t{t}-{i}")

        workers = [threading.Thread(target=hammer, args=(t,)) for t in range(threads)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        wb.flush()
        for uid in range(1, hot + 1):
            cached = wb.read(uid)
            assert db.get_user(uid) == cached  # no lost update, whatever the interleaving
            assert cached["version"] == start_versions[uid] + threads * per_thread // hot
            assert r.ttl(wb.store.key(uid)) > 0  # clean again: it has its TTL back


def test_dirty_records_have_no_ttl_until_flushed(r, db, keys):
    with MemoryWriteBehind(r, db, keys, ttl=120, flush_interval=30) as wb:
        wb.write(5, plan="pro")
        assert r.ttl(wb.store.key(5)) == -1  # cannot expire before the database has it
        wb.flush()
        assert 0 < r.ttl(wb.store.key(5)) <= 120


def test_close_flushes_and_exit_without_close_still_flushes(r, db, keys):
    wb = MemoryWriteBehind(r, db, keys, flush_interval=30)
    for uid in range(1, 51):
        wb.write(uid, plan="closing")
    wb.close()
    with db.latency(0):
        assert db.query("SELECT COUNT(*) AS n FROM users WHERE plan = 'closing'")[0]["n"] == 50
    with pytest.raises(RuntimeError, match="closed"):
        wb.write(1, plan="late")
    # A process that returns without close(): the atexit hook flushes; the brief's loses it all.
    ours = exit_test(r, db, keys, variant="memory", writes=150)
    theirs = exit_test(r, db, keys, variant="brief", writes=150)
    assert ours["exit_code"] == 0 and ours["lost"] == 0
    assert theirs["exit_code"] == 0 and theirs["lost"] > 0


def test_memory_variant_loses_acknowledged_writes_when_killed(r, db, keys, tmp_path):
    result = memory_crash_test(r, db, keys, writes=4000, batch_size=100, workdir=tmp_path)
    assert result["killed"]
    assert result["queued_at_kill"] >= 100  # killed with at least a batch only in memory
    assert result["lost"] > 0  # acknowledged to the caller, never in the database
    assert result["lost_but_in_cache"] == result["lost"]  # cache and database now disagree


# -- bad input ------------------------------------------------------------------------------------

@pytest.mark.parametrize("make", [
    lambda r, db, k: MemoryWriteBehind(r, db, k),
    lambda r, db, k: StreamWriteBehind(r, db, k),
], ids=["memory", "stream"])
def test_bad_input_gets_a_clear_error(r, db, keys, make):
    wb = make(r, db, keys)
    try:
        with pytest.raises(TypeError, match="user id must be an int"):
            wb.write(None, plan="pro")
        with pytest.raises(TypeError, match="user id must be an int"):
            wb.read("7")
        with pytest.raises(CodecError, match="field 'plan'"):
            wb.write(7, plan=datetime.datetime.now())
        with pytest.raises(CodecError, match="not valid JSON"):
            wb.write(7, name=float("nan"))
        with pytest.raises(TypeError, match="non-empty str"):
            wb.write(7, name=None)
        with pytest.raises(ValueError, match="unknown field"):
            wb.write(7, shoe_size="44")
        with pytest.raises(ValueError, match="managed by the cache"):
            wb.write(7, version=99)
        with pytest.raises(ValueError, match="nothing to write"):
            wb.write(7)
        with pytest.raises(LookupError, match="neither the cache nor the database"):
            wb.write(99_999, plan="pro")
        with pytest.raises(ValueError, match="needs every field"):
            wb.insert(99_999, name="Only A Name")
        wb.read(8)
        with pytest.raises(ValueError, match="cached already"):
            wb.insert(8, name="n", email="e@x", country="DE", plan="free")
        assert wb.read(7)["version"] == db.get_user(7)["version"]  # nothing half-written
    finally:
        wb.close()
    with pytest.raises(ValueError, match="ttl must be positive"):
        MemoryWriteBehind(r, db, keys, ttl=-5)
    with pytest.raises(ValueError, match="batch_size"):
        MemoryWriteBehind(r, db, keys, batch_size=0)


# -- the durable variant --------------------------------------------------------------------------

def test_stream_write_merges_enqueues_and_drains(qr, db, keys):
    wb = StreamWriteBehind(qr, db, keys)
    before = wb.read(9)
    for i in range(30):
        wb.write(9, plan=f"p{i}")
    wb.write(10, country="JP")
    wb.insert(5000, name="New User", email="new.5000@example.com", country="NG", plan="team")
    assert wb.queue_depth == 32
    assert qr.ttl(wb.store.key(9)) == -1
    worker = wb.worker(batch_size=100)
    db.reset_counters()
    worker.drain()
    assert db.query_count == 1  # 32 entries, 3 users, one statement
    assert worker.metrics.counters["coalesced"] == 29
    assert wb.queue_depth == 0 and wb.pending() == 0
    row = db.get_user(9)
    assert row["plan"] == "p29" and row["name"] == before["name"]
    assert row["version"] == before["version"] + 30
    assert db.get_user(5000)["email"] == "new.5000@example.com"
    assert qr.ttl(wb.store.key(9)) > 0


def test_replayed_entries_after_a_commit_change_nothing(qr, db, keys):
    wb = StreamWriteBehind(qr, db, keys)
    for uid in range(1, 21):
        wb.write(uid, plan="replayed")

    def crash(consumer, entry_ids):
        raise SystemExit("killed between the commit and XACK")

    first = StreamWorker(qr, db, keys, consumer="first", on_batch=crash, claim_idle_ms=50)
    with pytest.raises(SystemExit):
        first.step()
    assert wb.pending() == 20  # committed, but never acknowledged
    versions = {uid: db.get_user(uid)["version"] for uid in range(1, 21)}
    time.sleep(0.1)
    second = StreamWorker(qr, db, keys, consumer="second", claim_idle_ms=50)
    assert second.reclaim() == 20
    assert wb.pending() == 0
    assert second.metrics.counters["skipped"] == 20  # the upsert saw they were in already
    assert {uid: db.get_user(uid)["version"] for uid in range(1, 21)} == versions
    assert wb.stats()["claimed"] == 20


def test_transient_db_errors_are_retried_with_backoff(qr, db, keys):
    wb = StreamWriteBehind(qr, db, keys)
    for uid in range(1, 11):
        wb.write(uid, plan="retried")
    blocker = sqlite3.connect(db.path, isolation_level=None, check_same_thread=False)
    blocker.execute("BEGIN EXCLUSIVE")  # a real lock: writers get 'database is locked'
    release = threading.Timer(0.4, lambda: blocker.execute("COMMIT"))
    release.start()
    worker = wb.worker(lock_timeout_ms=20, backoff=0.05, max_attempts=10)
    try:
        worker.drain(timeout=30)
    finally:
        release.join()
        blocker.close()
    assert worker.metrics.counters["retries"] >= 1
    assert wb.stats().get("dead", 0) == 0
    with db.latency(0):
        assert db.query("SELECT COUNT(*) AS n FROM users WHERE plan = 'retried'")[0]["n"] == 10


def test_entries_the_database_refuses_go_to_the_dead_letter_stream(qr, db, keys):
    wb = StreamWriteBehind(qr, db, keys)
    taken = db.get_user(2)["email"]
    wb.write(1, plan="pro")
    wb.write(3, email=taken)
    wb.write(3, plan="team")  # a newer state of the same bad record: refused too
    wb.write(4, plan="pro")
    worker = wb.worker(max_attempts=2)
    worker.drain()
    dead = wb.dead_letters()
    assert len(dead) == 2 and all("UNIQUE" in d["_reason"] for d in dead)
    assert {d["id"] for d in dead} == {"3"}
    assert wb.pending() == 0 and wb.queue_depth == 0
    assert db.get_user(1)["plan"] == "pro" and db.get_user(4)["plan"] == "pro"
    assert wb.read(3) == db.get_user(3)  # the cache forgot the refused state


def test_an_entry_that_keeps_killing_workers_is_dead_lettered(qr, db, keys):
    wb = StreamWriteBehind(qr, db, keys)
    wb.write(1, plan="poison")
    stream = queue_keys(keys)["stream"]
    qr.xreadgroup("db-writers", "ghost-0", {stream: ">"}, count=10)  # delivered once ...
    entry = qr.xpending_range(stream, "db-writers", "-", "+", 10)[0]["message_id"]
    for n in range(1, 4):  # ... and taken over by three more workers that all died on it
        qr.xclaim(stream, "db-writers", f"ghost-{n}", 0, [entry])
    worker = StreamWorker(qr, db, keys, claim_idle_ms=0, max_deliveries=4)
    assert worker.reclaim() == 1
    dead = wb.dead_letters()
    assert len(dead) == 1 and "delivered 5 times" in dead[0]["_reason"]
    assert wb.pending() == 0 and db.get_user(1)["plan"] != "poison"


def test_durable_variant_loses_nothing_when_workers_are_killed(qr, db, keys):
    result = durable_crash_test(qr, db, keys, writes=10_000, kills=3, workers=2,
                                batch_size=50, claim_idle_ms=800, commit_crashes=1)
    assert result["acked"] == 10_000 and result["errors"] == 0
    assert result["mid_batch_kills"] == 3  # each died holding unacknowledged entries
    assert result["commit_crashes"] == 1
    assert result["lost"] == 0
    assert result["db_rows"] == result["distinct_db_rows"] == 10_000  # each exactly once
    assert result["unacked_in_db"] == 0 and result["wrong_rows"] == 0
    assert result["pending"] == 0 and result["stream_len"] == 0 and result["dead"] == 0
    assert result["claimed"] >= sum(k["stranded"] for k in result["kills"])
    assert result["redelivered_already_committed"] > 0  # replays happened and were harmless


# -- keeping the queue from being evicted ---------------------------------------------------------

def test_queue_safety_check_follows_the_eviction_policy(redis_factory, db, keys):
    lru = redis_factory("--maxmemory", "64mb", "--maxmemory-policy", "allkeys-lru").client()
    with pytest.raises(QueueNotSafe, match="allkeys-lru"):
        StreamWriteBehind(lru, db, keys)
    volatile = redis_factory("--maxmemory", "64mb", "--maxmemory-policy", "volatile-lru").client()
    assert check_queue_safety(volatile, keys)["ok"]
    volatile.xadd(queue_keys(keys)["stream"], {"x": 1})
    volatile.expire(queue_keys(keys)["stream"], 3600)
    assert not check_queue_safety(volatile, keys, raise_=False)["ok"]


def test_allkeys_lru_evicts_acknowledged_writes_and_noeviction_refuses_instead(redis_factory, db,
                                                                              keys):
    filler = b"x" * 1024
    outcomes = {}
    for policy in ("allkeys-lru", "noeviction"):
        server = redis_factory("--maxmemory", "3mb", "--maxmemory-policy", policy)
        client = connect(server.url)
        wb = StreamWriteBehind(client, db, keys, check=False)
        acked = 0
        for uid in range(1, 101):
            wb.write(uid, plan="queued")
            acked += 1
        refused = 0
        for i in range(20_000):  # other cache traffic fills the memory
            try:
                client.set(keys("filler", i), filler)
            except redis.exceptions.OutOfMemoryError:
                refused += 1
                break
        for uid in range(1, 21):  # more writes on a full server: each is acked or refused
            try:
                wb.write(uid, plan="one more")
                acked += 1
            except redis.ResponseError as exc:
                assert "maxmemory" in str(exc)  # refused with an error: never acknowledged
        outcomes[policy] = {"acked": acked, "in_queue": client.xlen(queue_keys(keys)["stream"]),
                            "refused": refused}
        client.close()
    assert outcomes["allkeys-lru"]["in_queue"] < 100  # acknowledged writes silently evicted
    full = outcomes["noeviction"]
    assert full["refused"] == 1 and full["in_queue"] == full["acked"] >= 100  # all still there


def test_worker_rides_out_a_redis_restart_and_aof_keeps_the_queue(redis_factory, db, keys):
    server = redis_factory("--appendonly", "yes", "--appendfsync", "always")
    client = connect(server.url, socket_timeout=2)
    wb = StreamWriteBehind(client, db, keys)
    with db.latency(0):
        for uid in range(1, 51):
            wb.write(uid, plan="before-crash")
    worker = StreamWorker(client, db, keys, block_ms=100, claim_idle_ms=500)
    server.kill()  # SIGKILL: no shutdown, no final save; AOF (fsync always) has every write
    stop = threading.Event()
    thread = threading.Thread(target=worker.run, args=(stop,))
    thread.start()
    try:
        time.sleep(0.5)  # the worker meets a dead server for a while
        server.start()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if client.xlen(queue_keys(keys)["stream"]) == 0:
                    break
            except redis.ConnectionError:
                pass
            time.sleep(0.05)
        with db.latency(0):
            for uid in range(51, 101):
                wb.write(uid, plan="after-restart")
        deadline = time.monotonic() + 30
        while client.xlen(queue_keys(keys)["stream"]) and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        stop.set()
        thread.join(10)
        client.close()
    assert worker.metrics.counters["redis_errors"] >= 1
    with db.latency(0):
        plans = {row["plan"]: row["n"] for row in db.query(
            "SELECT plan, COUNT(*) AS n FROM users WHERE id <= 100 GROUP BY plan")}
    assert plans == {"before-crash": 50, "after-restart": 50}
