"""The source brief's write-behind cache, made runnable so notebook 04 can show its mistakes.

Kept as written, with three changes so that it runs here: ``_update_db`` writes the real
database (the brief's is ``pass``), ``set(ex=)`` replaces the deprecated ``setex``, and a stop
flag lets a notebook end the worker (the brief's loops forever). Do not use it: see
:class:`~cachelab.write_behind.MemoryWriteBehind` and
:class:`~cachelab.write_behind.StreamWriteBehind` for what it gets wrong.
"""

from __future__ import annotations

import queue
import threading

import redis

from ..codec import dumps
from ..db import Database
from ..keys import Keys
from ..metrics import Metrics

__all__ = ["BriefWriteBehind"]


class BriefWriteBehind:
    """Writes go to the cache first and to the database from an in-memory queue (as in the brief)."""

    def __init__(self, r: redis.Redis, db: Database, keys: Keys, batch_size: int = 100):
        self.cache, self.db, self.keys = r, db, keys
        self.write_queue: queue.Queue = queue.Queue()
        self.batch_size = batch_size
        self.metrics = Metrics()
        self.last_error: str | None = None
        self._stop = threading.Event()  # added: the brief's worker can never be stopped
        # As in the brief: a daemon thread, so the interpreter does not wait for it at exit.
        self.worker_thread = threading.Thread(target=self._worker, daemon=True)
        self.worker_thread.start()

    def read(self, user_id: int) -> dict | None:
        """Not in the brief: a plain cache read, so the comparison notebook can drive it."""
        from ..codec import loads

        raw = self.cache.get(self.keys("user", user_id))
        self.metrics.incr("hits" if raw is not None else "misses")
        if raw is not None:
            return loads(raw)
        self.metrics.incr("db_queries")
        return self.db.get_user(user_id)

    def update_user(self, user_id: int, updates: dict) -> None:
        """Write to the cache immediately, queue the database write."""
        cache_key = self.keys("user", user_id)
        user_data = {"id": user_id, **updates}           # the update REPLACES the cached object
        self.cache.set(cache_key, dumps(user_data), ex=3600)
        self.write_queue.put(("update", user_id, updates))  # one entry per write: no coalescing
        self.metrics.incr("writes")

    def write(self, user_id: int, **fields) -> None:
        """The uniform surface: same as ``update_user(user_id, fields)``."""
        self.update_user(user_id, fields)

    update = write

    def _worker(self) -> None:
        batch: list = []
        while not self._stop.is_set():
            try:
                while len(batch) < self.batch_size:
                    try:
                        item = self.write_queue.get(timeout=1)
                        batch.append(item)
                    except queue.Empty:
                        break
                if batch:
                    self._flush_batch(batch)
                    batch = []  # never reached when a write fails: the whole batch runs again
            except Exception as e:
                self.metrics.incr("errors")  # the brief prints it, thousands of times a second
                self.last_error = f"Write-behind error: {e}"

    def _flush_batch(self, batch: list) -> None:
        for operation, user_id, updates in batch:   # one query per write, not per batch
            if operation == "update":
                self._update_db(user_id, updates)

    def _update_db(self, user_id: int, updates: dict) -> None:
        self.metrics.incr("db_queries")
        self.db.update_user(user_id, **updates)

    @property
    def queue_depth(self) -> int:
        """Writes still in the in-memory queue."""
        return self.write_queue.qsize()

    def stop(self) -> None:
        """Added for the notebook: end the worker thread (queued writes are simply dropped)."""
        self._stop.set()
        self.worker_thread.join(timeout=5)

    close = stop
