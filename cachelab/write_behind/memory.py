"""Write-behind with an in-process queue: batched, coalesced, flushed on close.

Fast and simple, and it loses every acknowledged write still queued when the process dies
(notebook 04 counts them). Use it where that is acceptable; otherwise use the stream variant.
"""

from __future__ import annotations

import atexit
import random
import sqlite3
import threading
import time
import weakref

import redis

from ..checks import count, number, positive
from ..db import Database
from ..keys import Keys
from ..metrics import Metrics
from ._store import RecordStore, coalesce, insert_record, read_record, upsert_users, write_record

__all__ = ["MemoryWriteBehind"]


def _close_at_exit(ref: weakref.ref) -> None:
    wb = ref()
    if wb is not None:
        wb.close()


class MemoryWriteBehind:
    """Writes land in Redis now and in the database later, a batch at a time.

    ``write(user_id, **fields)`` merges the fields into the cached record and queues the
    record's new state. Several writes to one key before a flush collapse into one row
    (coalescing). A background thread writes up to ``batch_size`` rows per database query,
    when a batch is full or ``flush_interval`` seconds after the first queued write.
    ``flush()`` waits for the database; ``close()`` (also run at interpreter exit) flushes
    and stops. ``max_pending`` bounds the queue: writers wait rather than grow it forever.
    """

    def __init__(self, r: redis.Redis, db: Database, keys: Keys, *, ttl: float = 300,
                 batch_size: int = 100, flush_interval: float = 0.05,
                 max_pending: int = 10_000, max_attempts: int = 5, backoff: float = 0.05,
                 metrics: Metrics | None = None):
        count("batch_size", batch_size, high=1000, hint=" (one statement per batch)")
        positive("flush_interval", flush_interval, hint=" (seconds)")
        count("max_pending", max_pending, low=batch_size, hint=" (at least batch_size)")
        count("max_attempts", max_attempts)
        number("backoff", backoff, low=0, hint=" (seconds before the first retry)")
        self.db, self.store = db, RecordStore(r, keys, ttl)
        self.batch_size, self.flush_interval = batch_size, flush_interval
        self.max_pending, self.max_attempts, self.backoff = max_pending, max_attempts, backoff
        self.metrics = metrics or Metrics()
        self.failed: list[tuple[dict, str]] = []      # rows the database refused for good
        self.flush_log: list[tuple[float, int]] = []  # (time.time(), rows) per database write
        self._cond = threading.Condition()
        self._pending: dict[int, dict] = {}
        self._first_pending_at: float | None = None
        self._inflight = 0
        self._flush_waiters = 0
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="write-behind-flusher", daemon=True)
        self._thread.start()
        ref = weakref.ref(self)  # a weak reference: registering must not keep us alive
        self._atexit = lambda: _close_at_exit(ref)
        atexit.register(self._atexit)  # nothing acknowledged is dropped at a normal exit

    # -- the uniform surface: read / write ----------------------------------------------------
    def read(self, user_id: int) -> dict | None:
        """The user as the cache has it (dirty writes included); loads it on a miss."""
        with self.metrics.latency("read").time():
            return read_record(self.store, self.db, user_id, self.metrics)

    def write(self, user_id: int, **fields) -> dict:
        """Merge ``fields`` into the cached user and queue its new state; return that state."""
        with self.metrics.latency("write").time():
            self._wait_for_room()
            return self._enqueue(write_record(self.store, self.db, user_id, fields, self.metrics))

    def insert(self, user_id: int, **fields) -> dict:
        """Create a user whose id the caller just allocated (every field, no database read)."""
        with self.metrics.latency("write").time():
            self._wait_for_room()
            return self._enqueue(insert_record(self.store, user_id, fields))

    def _wait_for_room(self) -> None:
        if self._closed:
            raise RuntimeError("this write-behind cache is closed; create a new one")
        with self._cond:  # backpressure: wait for the flusher rather than grow without bound
            while len(self._pending) >= self.max_pending and not self._closed:
                self._cond.wait(0.1)

    def _enqueue(self, record: dict) -> dict:
        with self._cond:
            queued = self._pending.get(record["id"])
            if queued is not None:
                self.metrics.incr("coalesced")
            if not self._pending:
                self._first_pending_at = time.monotonic()
            # The newest state replaces a queued older one. Two threads writing one key may
            # get here out of order, so compare versions rather than trust arrival order.
            if queued is None or record["version"] > queued["version"]:
                self._pending[record["id"]] = record
            self._cond.notify_all()
        self.metrics.incr("writes")
        return record

    get, update = read, write

    @property
    def queue_depth(self) -> int:
        """Rows waiting for the database (including the batch being written)."""
        with self._cond:
            return len(self._pending) + self._inflight

    def flush(self, timeout: float | None = 60) -> None:
        """Block until every write acknowledged so far is in the database."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            self._flush_waiters += 1
            self._cond.notify_all()
            try:
                while self._pending or self._inflight:
                    if not self._thread.is_alive():
                        raise RuntimeError("the flusher thread died; see the log")
                    left = None if deadline is None else deadline - time.monotonic()
                    if left is not None and left <= 0:
                        raise TimeoutError(f"{self.queue_depth} writes still queued after {timeout}s")
                    self._cond.wait(0.05 if left is None else min(left, 0.05))
            finally:
                self._flush_waiters -= 1

    def close(self, timeout: float | None = 60) -> None:
        """Flush everything, then stop the flusher thread. Safe to call twice."""
        if self._closed:
            return
        try:
            self.flush(timeout)
        finally:
            with self._cond:
                self._closed = True
                self._cond.notify_all()
            self._thread.join(timeout=5)
            atexit.unregister(self._atexit)

    def __enter__(self) -> MemoryWriteBehind:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- the flusher --------------------------------------------------------------------------
    def _next_batch(self) -> list[dict] | None:
        with self._cond:
            while True:
                if self._closed and not self._pending:
                    return None
                if self._pending:
                    due = self._first_pending_at + self.flush_interval
                    if (len(self._pending) >= self.batch_size or self._flush_waiters
                            or self._closed or time.monotonic() >= due):
                        break
                    self._cond.wait(max(0.0, due - time.monotonic()))
                else:
                    self._cond.wait(0.5)
            ids = list(self._pending)[: self.batch_size]
            batch = [self._pending.pop(i) for i in ids]
            self._first_pending_at = time.monotonic() if self._pending else None
            self._inflight = len(batch)
            self._cond.notify_all()  # writers blocked on max_pending may go on
            return batch

    def _run(self) -> None:
        while True:
            batch = self._next_batch()
            if batch is None:
                return
            try:
                self._write_batch(batch)
            except Exception as exc:  # keep the thread alive; the rows are recorded as failed
                self.failed.extend((row, f"{type(exc).__name__}: {exc}") for row in batch)
                self.metrics.incr("dead", len(batch))
            finally:
                with self._cond:
                    self._inflight = 0
                    self._cond.notify_all()

    def _write_batch(self, batch: list[dict]) -> None:
        rows = list(coalesce(batch).values())
        for attempt in range(self.max_attempts):
            try:
                self._commit(rows)
                return
            except sqlite3.IntegrityError:  # permanent (a constraint): retrying will not help
                break
            except sqlite3.OperationalError:  # transient (e.g. locked): wait and try again
                self.metrics.incr("retries")
                time.sleep(random.uniform(0, self.backoff * 2**attempt))  # full jitter
        else:
            # Still unavailable: queue the rows again (unless a newer state is queued) and let
            # flush() time out if it never comes back. Dropping them would lose acknowledged writes.
            self.metrics.incr("requeued", len(rows))
            with self._cond:
                for row in rows:
                    queued = self._pending.get(row["id"])
                    if queued is None or queued["version"] < row["version"]:
                        self._pending[row["id"]] = row
                if self._first_pending_at is None:
                    self._first_pending_at = time.monotonic()
            return
        # Find the rows the database refuses: one statement each, so good rows still land.
        self.metrics.incr("isolated_batches")
        for row in rows:
            try:
                self._commit([row])
            except sqlite3.IntegrityError as exc:
                self.failed.append((row, f"{type(exc).__name__}: {exc}"))
                self.metrics.incr("dead")
                self.store.drop_version(row["id"], row["version"])

    def _commit(self, rows: list[dict]) -> None:
        self.metrics.incr("db_queries")
        with self.metrics.latency("flush").time():
            upsert_users(self.db, rows)
        self.metrics.incr("db_writes")
        self.metrics.incr("rows_written", len(rows))
        self.flush_log.append((time.time(), len(rows)))
        try:
            self.store.mark_clean({row["id"]: row["version"] for row in rows})
        except redis.RedisError:  # the rows are safe; the records just stay pinned a while
            self.metrics.incr("mark_clean_errors")
