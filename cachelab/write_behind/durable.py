"""Durable write-behind on a Redis Stream: nothing acknowledged is lost when a worker dies.

The producer merges a write into the cached record and appends the record's new state to a
stream in one Lua script, so "acknowledged" means "in Redis". Workers in a consumer group
read batches, write them to the database, and only then XACK. A worker killed mid-batch
leaves its entries pending; a live worker takes them over with XAUTOCLAIM once they have
been idle for ``claim_idle_ms``. Replays are harmless because the upsert only applies a
newer version. Entries the database keeps refusing, or that keep killing workers, go to a
dead-letter stream instead of blocking the queue.

The queue must not be evictable: see :func:`check_queue_safety`. It is exactly as durable
as the Redis it lives in: with persistence off, a Redis crash loses it (use AOF and a replica).
"""

from __future__ import annotations

import os
import random
import socket
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable
from urllib.parse import quote

import redis

from ..checks import count
from ..codec import CodecError
from ..db import Database
from ..keys import Keys
from ..metrics import Metrics
from ._store import (
    RecordStore,
    coalesce,
    decode_record,
    insert_record,
    read_record,
    upsert_users,
    write_record,
)

__all__ = ["GROUP", "QueueNotSafe", "StreamWriteBehind", "StreamWorker", "check_queue_safety",
           "queue_keys"]

GROUP = "db-writers"
SAFE_POLICIES = ("noeviction", "volatile-lru", "volatile-lfu", "volatile-random", "volatile-ttl")


class QueueNotSafe(RuntimeError):
    """The Redis holding the write queue could evict it, silently losing acknowledged writes."""


def queue_keys(keys: Keys) -> dict[str, str]:
    """The stream, dead-letter stream and stats hash of a write-behind queue."""
    return {"stream": keys("wb", "stream"), "dead": keys("wb", "dead"),
            "stats": keys("wb", "stats")}


def check_queue_safety(r: redis.Redis, keys: Keys, *, raise_: bool = True) -> dict:
    """Check that the queue's keys cannot be evicted; raise :class:`QueueNotSafe` if they can.

    Safe: ``maxmemory-policy noeviction`` (a full Redis refuses new writes with an error
    instead of dropping old data), or a ``volatile-*`` policy with no TTL on the queue keys
    (those policies only evict keys that have a TTL). ``allkeys-*`` may evict the stream.
    """
    report: dict = {"policy": None, "maxmemory": None, "appendonly": None, "ttls": {}}
    try:
        config = r.config_get("maxmemory*") | r.config_get("appendonly")
        report["policy"] = config.get("maxmemory-policy")
        report["maxmemory"] = int(config.get("maxmemory", 0))
        report["appendonly"] = config.get("appendonly")
    except redis.ResponseError as exc:  # managed services often disable CONFIG
        report["ok"], report["reason"] = False, f"cannot read the eviction policy ({exc})"
    for name, key in queue_keys(keys).items():
        report["ttls"][name] = r.ttl(key)  # -2: not created yet, -1: no TTL
    if "ok" not in report:
        policy = report["policy"]
        with_ttl = [n for n, t in report["ttls"].items() if t >= 0]
        if policy not in SAFE_POLICIES:
            report["ok"] = False
            report["reason"] = f"maxmemory-policy is {policy}, which may evict the queue itself"
        elif policy != "noeviction" and with_ttl:
            report["ok"] = False
            report["reason"] = f"{with_ttl} have a TTL, so {policy} may evict them"
        else:
            report["ok"] = True
            report["reason"] = (f"{policy}: the queue keys have no TTL and are never evicted"
                                if policy != "noeviction" else "noeviction: nothing is evicted")
    if raise_ and not report["ok"]:
        raise QueueNotSafe(
            f"the write queue could lose acknowledged writes: {report['reason']}. Put the queue "
            "on a Redis (or a dedicated instance) with maxmemory-policy noeviction, or use a "
            "volatile-* policy and never give the queue keys a TTL. Pass check=False only if "
            "you have verified this another way.")
    return report


def _url_of(r: redis.Redis) -> str:
    """A redis:// URL for the server ``r`` talks to (for worker processes)."""
    kw = r.connection_pool.connection_kwargs
    user, password = kw.get("username") or "", kw.get("password")
    auth = f"{quote(user, safe='')}:{quote(password, safe='')}@" if password else ""
    return f"redis://{auth}{kw.get('host', '127.0.0.1')}:{kw.get('port', 6379)}/{kw.get('db', 0)}"


def _ensure_group(r: redis.Redis, stream: str) -> None:
    try:
        # id=0: entries appended before the group existed are delivered too.
        r.xgroup_create(stream, GROUP, id="0", mkstream=True)
    except redis.ResponseError as exc:
        if "BUSYGROUP" not in str(exc):
            raise


class StreamWriteBehind:
    """The producer side: ``write`` is acknowledged once the new state is in the stream."""

    def __init__(self, r: redis.Redis, db: Database, keys: Keys, *, ttl: float = 300,
                 check: bool = True, metrics: Metrics | None = None):
        self.r, self.db, self.keys = r, db, keys
        self.q = queue_keys(keys)
        self.store = RecordStore(r, keys, ttl)
        self.metrics = metrics or Metrics()
        self.safety = check_queue_safety(r, keys, raise_=check)
        _ensure_group(r, self.q["stream"])

    def read(self, user_id: int) -> dict | None:
        """The user as the cache has it (queued writes included); loads it on a miss."""
        with self.metrics.latency("read").time():
            return read_record(self.store, self.db, user_id, self.metrics)

    def write(self, user_id: int, **fields) -> dict:
        """Merge ``fields`` into the cached user and enqueue its new state, atomically."""
        with self.metrics.latency("write").time():
            record = write_record(self.store, self.db, user_id, fields, self.metrics,
                                  stream=self.q["stream"])
        self.metrics.incr("writes")
        return record

    def insert(self, user_id: int, **fields) -> dict:
        """Create a user whose id the caller just allocated (every field, no database read)."""
        with self.metrics.latency("write").time():
            record = insert_record(self.store, user_id, fields, stream=self.q["stream"])
        self.metrics.incr("writes")
        return record

    get, update = read, write

    @property
    def queue_depth(self) -> int:
        """Entries not yet written to the database (unread plus pending)."""
        return self.r.xlen(self.q["stream"])  # workers XDEL what they acknowledged

    def pending(self) -> int:
        """Entries delivered to a worker and not acknowledged yet."""
        return int(self.r.xpending(self.q["stream"], GROUP)["pending"])

    def dead_letters(self, count: int = 100) -> list[dict]:
        """Entries that were given up on, with the reason."""
        out = []
        for entry_id, fields in self.r.xrange(self.q["dead"], count=count):
            rec = {k.decode(): v.decode() for k, v in fields.items()}
            rec["dead_id"] = entry_id.decode()
            out.append(rec)
        return out

    def stats(self) -> dict[str, int]:
        """Counters the workers keep in Redis (they survive worker crashes)."""
        return {k.decode(): int(v) for k, v in self.r.hgetall(self.q["stats"]).items()}

    def close(self) -> None:
        """Nothing to flush: the stream is the buffer, and it outlives this process."""

    def worker(self, **kwargs) -> StreamWorker:
        """A worker for this queue in this process (a thread's worth of work)."""
        return StreamWorker(self.r, self.db, self.keys, ttl=self.store.ttl, **kwargs)


class StreamWorker:
    """Reads batches from the stream, writes them to the database, then acknowledges them."""

    def __init__(self, r: redis.Redis, db: Database, keys: Keys, *, consumer: str | None = None,
                 batch_size: int = 100, block_ms: int = 200, claim_idle_ms: int = 30_000,
                 max_attempts: int = 5, max_deliveries: int = 10, backoff: float = 0.05,
                 backoff_cap: float = 2.0, ttl: float = 300, lock_timeout_ms: int | None = None,
                 metrics: Metrics | None = None,
                 on_batch: Callable[[str, list[str]], None] | None = None):
        count("batch_size", batch_size, high=1000)
        if not 1 <= batch_size <= 1000:
            raise ValueError(f"batch_size must be 1..1000 (one statement per batch), got {batch_size}")
        self.r, self.db = r, db
        self.q = queue_keys(keys)
        self.store = RecordStore(r, keys, ttl)
        self.consumer = consumer or f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self.batch_size, self.block_ms, self.claim_idle_ms = batch_size, block_ms, claim_idle_ms
        self.max_attempts, self.max_deliveries = max_attempts, max_deliveries
        self.backoff, self.backoff_cap = backoff, backoff_cap
        self.lock_timeout_ms = lock_timeout_ms
        self.metrics = metrics or Metrics()
        self.on_batch = on_batch  # test hook: called after the DB commit, before XACK
        self.flush_log: list[tuple[float, int]] = []  # (time.time(), rows) per database write
        self._local = threading.local()
        _ensure_group(r, self.q["stream"])

    # -- the loop ----------------------------------------------------------------------------
    def run(self, stop: threading.Event | None = None, *, until_empty: bool = False) -> None:
        """Work until ``stop`` is set (or, with ``until_empty``, until nothing is left).

        If Redis goes away the loop waits and retries with backoff: entries it held stay
        pending in Redis, and a batch committed but not acknowledged is replayed harmlessly.
        """
        stop = stop or threading.Event()
        next_claim, failures = 0.0, 0
        while not stop.is_set():
            try:
                if time.monotonic() >= next_claim:
                    # Claim again at once while there is more; otherwise twice per idle time.
                    claimed = self.reclaim()
                    next_claim = 0.0 if claimed else time.monotonic() + self.claim_idle_ms / 2000
                    if claimed:
                        continue
                done = self.step()
                failures = 0
                if until_empty and not done and self._empty():
                    return
            except (redis.ConnectionError, redis.TimeoutError):
                failures += 1
                self.metrics.incr("redis_errors")
                stop.wait(random.uniform(0, min(self.backoff_cap, self.backoff * 2**failures)))

    def step(self) -> int:
        """Read and process one batch of new entries; return how many there were."""
        reply = self.r.xreadgroup(GROUP, self.consumer, {self.q["stream"]: ">"},
                                  count=self.batch_size, block=self.block_ms)
        entries = reply[0][1] if reply else []
        if entries:
            self._process(entries)
        return len(entries)

    def reclaim(self) -> int:
        """Take over entries idle longer than ``claim_idle_ms`` (a crashed worker's batch)."""
        reply = self.r.xautoclaim(self.q["stream"], GROUP, self.consumer, self.claim_idle_ms,
                                  start_id="0-0", count=self.batch_size)
        entries = [e for e in reply[1] if e[0] is not None]
        if not entries:
            return 0
        self._hincr("claimed", len(entries))
        self.metrics.incr("claimed", len(entries))
        # XAUTOCLAIM counted this delivery; entries that keep coming back killed workers.
        pend = self.r.xpending_range(self.q["stream"], GROUP, entries[0][0], entries[-1][0],
                                     len(entries) * 2, consumername=self.consumer)
        times = {p["message_id"]: p["times_delivered"] for p in pend}
        poison = [e for e in entries if times.get(e[0], 0) > self.max_deliveries]
        for entry_id, fields in poison:
            self._dead_letter(entry_id, fields, f"delivered {times[entry_id]} times without an "
                              "acknowledgement: it probably crashes the worker")
        rest = [e for e in entries if e not in poison]
        if rest:
            self._process(rest)
        return len(entries)

    def drain(self, timeout: float = 60) -> None:
        """Process until the stream is empty (for notebooks and tests)."""
        deadline = time.monotonic() + timeout
        while not self._empty():
            if time.monotonic() > deadline:
                raise TimeoutError(f"queue not drained after {timeout}s")
            if not self.step():
                self.reclaim()

    def prune_consumers(self, idle_ms: int | None = None) -> list[str]:
        """Remove consumers (crashed workers) that own no pending entries and went quiet."""
        idle_ms = idle_ms if idle_ms is not None else 10 * self.claim_idle_ms
        gone = []
        for c in self.r.xinfo_consumers(self.q["stream"], GROUP):
            name = c["name"].decode() if isinstance(c["name"], bytes) else c["name"]
            # Never one with pending entries: DELCONSUMER would drop them from the PEL.
            if name != self.consumer and c["pending"] == 0 and c["idle"] > idle_ms:
                self.r.xgroup_delconsumer(self.q["stream"], GROUP, name)
                gone.append(name)
        return gone

    def _empty(self) -> bool:
        return self.r.xlen(self.q["stream"]) == 0

    # -- one batch ---------------------------------------------------------------------------
    def _process(self, entries: list) -> None:
        records, ids_by_user = [], {}
        for entry_id, fields in entries:
            try:
                rec = decode_record(fields)
            except CodecError as exc:
                rec = {"error": exc}
            if not isinstance(rec.get("id"), int) or not isinstance(rec.get("version"), int):
                self._dead_letter(entry_id, fields, f"not a record entry: {rec.get('error', rec)}")
                continue
            records.append(rec)
            ids_by_user.setdefault(rec["id"], []).append(entry_id)
        rows = list(coalesce(records).values())
        self.metrics.incr("entries", len(records))
        self.metrics.incr("coalesced", len(records) - len(rows))
        failed = self._write(rows, [e[0] for e in entries]) if rows else {}
        if failed is None:  # the database is unavailable: acknowledge nothing, try later
            return
        for user_id, reason in failed.items():
            for entry_id in ids_by_user.pop(user_id):
                self._dead_letter(entry_id, dict(entries)[entry_id], reason)
        # The records the database now has get their TTL back. Before XACK, so that a crash
        # here replays the batch (harmless) instead of leaving records pinned for good.
        committed = {row["id"]: row["version"] for row in rows if row["id"] not in failed}
        self.store.mark_clean(committed)
        done = [entry_id for ids in ids_by_user.values() for entry_id in ids]
        if self.on_batch:
            self.on_batch(self.consumer, done)
        if done:
            # Only now, after the commit: XACK and XDEL in one transaction.
            with self.r.pipeline(transaction=True) as pipe:
                pipe.xack(self.q["stream"], GROUP, *done)
                pipe.xdel(self.q["stream"], *done)
                pipe.hincrby(self.q["stats"], "acked", len(done))
                pipe.execute()
            self.metrics.incr("acked", len(done))

    def _write(self, rows: list[dict], entry_ids: list) -> dict[int, str] | None:
        """Commit rows, retrying transient errors with backoff.

        Returns {user_id: reason} for rows the database refuses for good (a constraint), or
        None if it stayed unavailable: then nothing is acknowledged, the entries stay pending,
        and they come back through XAUTOCLAIM later (counting a delivery each time).
        """
        for attempt in range(self.max_attempts):
            try:
                self._commit(rows)
                return {}
            except sqlite3.IntegrityError:  # permanent: find the culprit below
                break
            except sqlite3.OperationalError:  # e.g. database locked: back off and retry
                self._hincr("retries")
                self.metrics.incr("retries")
                self._heartbeat(entry_ids)
                time.sleep(random.uniform(0, min(self.backoff_cap, self.backoff * 2**attempt)))
        else:
            self._hincr("unavailable")
            self.metrics.incr("unavailable")
            return None
        failed = {}
        for row in rows:  # one statement per row isolates the bad ones; good ones still land
            try:
                self._commit([row])
            except sqlite3.IntegrityError as exc:
                failed[row["id"]] = f"{type(exc).__name__}: {exc}"
                self.store.drop_version(row["id"], row["version"])
        return failed

    def _commit(self, rows: list[dict]) -> None:
        if self.lock_timeout_ms is not None and not getattr(self._local, "pragma", False):
            self.db.query(f"PRAGMA busy_timeout = {int(self.lock_timeout_ms)}")
            self._local.pragma = True
        self.metrics.incr("db_queries")
        with self.metrics.latency("flush").time():
            applied = upsert_users(self.db, rows)
        self.metrics.incr("db_writes")
        self.metrics.incr("rows_written", len(applied))
        self.flush_log.append((time.time(), len(rows)))
        # Rows not applied were already in the database: a redelivery after a crash.
        skipped = len(rows) - len(applied)
        with self.r.pipeline(transaction=False) as pipe:
            pipe.hincrby(self.q["stats"], "applied", len(applied))
            pipe.hincrby(self.q["stats"], "batches", 1)
            if skipped:
                pipe.hincrby(self.q["stats"], "skipped", skipped)
            pipe.execute()
        self.metrics.incr("skipped", skipped)

    def _heartbeat(self, entry_ids: list) -> None:
        # XCLAIM to ourselves with JUSTID resets the idle time without counting a delivery,
        # so a slow retry is not mistaken for a crashed worker.
        if entry_ids:
            self.r.xclaim(self.q["stream"], GROUP, self.consumer, 0, entry_ids, justid=True)

    def _dead_letter(self, entry_id, fields: dict, reason: str) -> None:
        try:  # the cached copy holds a state the database will never get: forget it
            rec = decode_record(fields)
            self.store.drop_version(rec["id"], rec["version"])
        except (CodecError, KeyError, TypeError, ValueError):
            pass
        with self.r.pipeline(transaction=True) as pipe:
            pipe.xadd(self.q["dead"], {**fields, "_entry": entry_id, "_reason": reason,
                                       "_consumer": self.consumer})
            pipe.xack(self.q["stream"], GROUP, entry_id)
            pipe.xdel(self.q["stream"], entry_id)
            pipe.hincrby(self.q["stats"], "dead", 1)
            pipe.execute()
        self.metrics.incr("dead")

    def _hincr(self, field: str, n: int = 1) -> None:
        self.r.hincrby(self.q["stats"], field, n)
