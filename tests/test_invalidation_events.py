"""Event invalidation across real worker processes, and real disconnects on private servers."""

from __future__ import annotations

import pytest

from cachelab import Database, Keys
from cachelab.invalidation import LocalCache, PubSubListener, StreamBus, StreamListener
from cachelab.invalidation.events import NaiveListener, PubSubBus
from cachelab.invalidation.workers import run_strategy

from .waiting import until


@pytest.fixture
def small_db(tmp_path):
    database = Database(tmp_path / "events.sqlite", latency_ms=1, users=30, orders=30)
    yield database
    database.close()


def _run(strategy, private_redis, small_db, **kw):
    return run_strategy(strategy, private_redis.url, small_db, Keys("test").child("events"),
                        workers=2, duration=2.5, write_rate=10, n_users=15, **kw)


def test_event_invalidation_reaches_every_worker(private_redis, small_db):
    run = _run("pubsub", private_redis, small_db)
    writes = len(run.writes)
    assert writes > 5
    for worker in run.workers:
        assert len(worker["events"]) == writes, f"worker {worker['id']} missed events"
    assert run.summary["served"]["local"] > 0          # the local copies were in use
    assert run.summary["writer_ops_per_write"] == pytest.approx(3, abs=0.3)


def test_pubsub_without_the_fix_stays_stale_after_a_reconnect(private_redis, small_db):
    run = _run("pubsub-reconnect", private_redis, small_db, fault_at=0.8)
    assert all(w["listener"]["reconnects"] for w in run.workers)  # it did come back...
    assert run.summary["stale_after_reconnect"] > 0               # ...and served stale copies


def test_pubsub_with_the_fix_has_no_stale_reads_after_a_reconnect(private_redis, small_db):
    run = _run("pubsub", private_redis, small_db, fault_at=0.8)
    assert all(w["listener"]["reconnects"] for w in run.workers)
    assert run.summary["stale_after_reconnect"] == 0
    assert run.summary["bypassed"] > 0        # reads went to Redis while the listener was away


def test_stream_offsets_replay_what_a_worker_missed(private_redis, small_db):
    run = _run("stream", private_redis, small_db, fault_at=0.8)
    assert all(w["listener"]["reconnects"] for w in run.workers)
    assert run.summary["stale_after_reconnect"] == 0
    for worker in run.workers:  # nothing lost: every event reached every worker
        assert len(worker["events"]) == len(run.writes)


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_the_brief_listener_dies_and_nobody_is_told(private_redis, small_db):
    run = _run("pubsub-naive", private_redis, small_db, fault_at=0.8)
    assert run.summary["listeners_alive"] == [False, False]
    assert run.summary["stale_after_reconnect"] > 0


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_a_dead_listener_is_noticed_and_its_copies_are_not_trusted(private_redis):
    cache = LocalCache()
    channel = "cachelab:test:events:ch"
    listener = PubSubListener(private_redis.url, cache, channel, backoff=0.05).start()
    cache.fill("k", 1, cache.begin("k"))

    def broken(event, now):
        raise RuntimeError("a bug in the event handler")

    listener.on_event = broken
    PubSubBus(private_redis.client(), channel).publish(["k"])
    assert until(lambda: not listener.alive)
    assert not listener.healthy and len(cache) == 0          # flushed, and reported
    assert "a bug in the event handler" in listener.status()["errors"][-1]


def test_listener_flushes_on_disconnect_and_resubscribes(private_redis):
    cache = LocalCache()
    channel = "cachelab:test:events:ch2"
    listener = PubSubListener(private_redis.url, cache, channel, backoff=0.05).start()
    cache.fill("k", 1, cache.begin("k"))
    admin = private_redis.client()
    admin.execute_command("CLIENT", "KILL", "TYPE", "pubsub")
    assert until(lambda: len(listener.reconnects) == 1)
    assert len(cache) == 0 and listener.healthy
    cache.fill("k", 1, cache.begin("k"))
    PubSubBus(admin, channel).publish(["k"])
    assert until(lambda: len(cache) == 0)                   # resubscribed: events flow again
    listener.stop()


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_naive_listener_thread_dies_and_its_copies_stay_trusted(private_redis):
    cache = LocalCache()
    channel = "cachelab:test:naive"
    listener = NaiveListener(private_redis.url, cache, channel).start()
    cache.fill("k", 1, cache.begin("k"))
    admin = private_redis.client()
    admin.execute_command("CLIENT", "KILL", "TYPE", "pubsub")
    assert until(lambda: not listener.alive)
    PubSubBus(admin, channel).publish(["k"])  # the write's invalidation, after the death
    # The thread is gone, so nothing can ever apply it: the stale copy stays, still "healthy".
    assert cache.get("k") == 1 and listener.received == 0 and listener.healthy
    assert len(cache) == 1  # no flush either: the brief's listener has no error path


def test_stream_listener_flushes_when_the_stream_was_trimmed_past_its_offset(private_redis):
    admin = private_redis.client()
    stream = "cachelab:test:stream"
    cache = LocalCache()
    bus = StreamBus(admin, stream, maxlen=10_000)
    bus.publish(["a"])
    listener = StreamListener(private_redis.url, cache, stream, backoff=0.3).start()
    cache.fill("k", 1, cache.begin("k"))
    listener.stop()                                  # the worker is away (restarting, say)
    for _ in range(5):
        bus.publish(["other"])
    admin.xtrim(stream, maxlen=1, approximate=False)  # events it needed are gone for good
    listener.start()                                 # back, with its old offset
    assert until(lambda: listener.gaps == 1 and listener.healthy), listener.status() | {
        "last_id": listener.last_id, "gaps": listener.gaps}
    assert len(cache) == 0
    listener.stop()


def test_run_strategy_rejects_bad_input(private_redis, small_db):
    with pytest.raises(ValueError, match="unknown strategy"):
        run_strategy("magic", private_redis.url, small_db, Keys("test"))
    with pytest.raises(ValueError, match="workers"):
        run_strategy("ttl", private_redis.url, small_db, Keys("test"), workers=0)
    with pytest.raises(ValueError, match="write_rate"):
        run_strategy("ttl", private_redis.url, small_db, Keys("test"), write_rate=-1)
