"""Read-through: a cache built around a loader; callers only ever ask the cache.

In cache-aside every caller carries the "miss -> query -> fill" code; here the cache owns
it, which lets it do what scattered callers cannot: coalesce concurrent misses of one key
into one load (in-process single-flight), batch the misses of a multi-get into one query,
and apply one policy (TTL, jitter, negative caching, versioned fills) everywhere.
"""

from __future__ import annotations

import copy
import multiprocessing
import time
from collections.abc import Callable, Iterable
from typing import Any

import redis

from . import children
from .aside import check_fields
from .breaker import CircuitBreaker
from .codec import CodecError
from .db import Database
from .keys import Keys
from .metrics import Metrics
from .rowcache import DOWN, MISS, RowCache
from .singleflight import SingleFlight

__all__ = ["ReadThroughCache", "burst_across_processes"]


def _row_version(row: dict) -> int:
    return row["version"]


class ReadThroughCache:
    """``get(id)`` returns the cached value or loads it with ``loader(id)`` and caches it.

    ``version(value)`` (e.g. ``lambda row: row["version"]``) turns on versioned fills;
    ``many_loader(ids) -> {id: value}`` lets :meth:`get_many` load all misses in one call;
    ``writer(id, **fields) -> value`` gives the uniform ``write``/``update`` (write to the
    source, then invalidate). ``single_flight=False`` lets every concurrent miss load.
    """

    name = "read-through"

    def __init__(self, r: redis.Redis, keys: Keys, loader: Callable[[int], Any], *,
                 entity: str = "item", ttl: float = 300, spread: float = 0.1,
                 negative_ttl: float | None = None,
                 version: Callable[[Any], int] | None = None,
                 many_loader: Callable[[list[int]], dict[int, Any]] | None = None,
                 writer: Callable[..., Any] | None = None, single_flight: bool = True,
                 breaker: CircuitBreaker | None = None, metrics: Metrics | None = None):
        if not callable(loader):
            raise TypeError(f"loader must be a function id -> value, got {type(loader).__name__}")
        for label, fn in (("version", version), ("many_loader", many_loader), ("writer", writer)):
            if fn is not None and not callable(fn):
                raise TypeError(f"{label} must be a function (or None), got {type(fn).__name__}")
        self.loader = loader
        self.many_loader = many_loader
        self.writer = writer
        self.version = version
        self.metrics = metrics or Metrics()
        self.store = RowCache(r, keys, entity=entity, ttl=ttl, spread=spread,
                              negative_ttl=negative_ttl, versioned=version is not None,
                              breaker=breaker, metrics=self.metrics)
        self.flight = SingleFlight() if single_flight else None
        self.db: Database | None = None  # set by for_users(); lets race_once() check the truth
        self.before_fill: Callable[[int, Any], None] | None = None  # between load and fill
        self._read_latency = self.metrics.latency("read")

    @classmethod
    def for_users(cls, r: redis.Redis, db: Database, keys: Keys, **kwargs) -> ReadThroughCache:
        """A read-through cache of ``db``'s users table (versioned, batched, writable)."""
        cache = cls(r, keys, db.get_user, entity="user", version=_row_version,
                    many_loader=db.get_users, writer=db.update_user, **kwargs)
        cache.db = db
        return cache

    @property
    def breaker(self) -> CircuitBreaker:
        """The circuit breaker guarding every Redis call."""
        return self.store.breaker

    def _version_of(self, value) -> int | None:
        if self.version is None:
            return None
        return 0 if value is None else self.version(value)

    def _load(self, item_id: int, key: str, fill: bool):
        self.metrics.incr("db_queries")
        try:
            value = self.loader(item_id)
        except Exception:
            self.metrics.incr("load_errors")  # nothing is cached; the next get tries again
            raise
        if fill:
            if self.before_fill is not None:
                self.before_fill(item_id, value)
            try:
                self.store.fill(key, value, self._version_of(value))
            except CodecError as exc:
                raise CodecError(f"the loader returned a value for id {item_id!r} that the cache "
                                 f"cannot store: {exc}") from exc
        return value

    def get(self, item_id: int):
        """The value for ``item_id``: cached, or loaded once however many callers miss at once."""
        key = self.store.key(item_id)
        start = time.perf_counter()
        value = self.store.lookup(key)
        if value is MISS or value is DOWN:
            self.metrics.incr("misses" if value is MISS else "fallbacks")
            fill = value is MISS
            if self.flight is None:
                value = self._load(item_id, key, fill)
            else:
                leader = []
                value = self.flight.do(key, lambda: leader.append(1) or self._load(item_id, key, fill))
                if not leader:  # a follower: same object as the leader's, so hand out a copy
                    self.metrics.incr("coalesced")
                    value = copy.deepcopy(value)
        else:
            self.metrics.incr("hits")
        self._read_latency.record(time.perf_counter() - start)
        return value

    read = get

    def get_many(self, item_ids: Iterable[int]) -> dict[int, Any]:
        """Values for several ids: one MGET, then one ``many_loader`` call for all the misses."""
        if item_ids is None or isinstance(item_ids, (str, bytes)):
            raise TypeError(f"get_many takes an iterable of int ids, e.g. [1, 2, 3]; got "
                            f"{type(item_ids).__name__} {item_ids!r}")
        # Check before de-duplicating: a dict would merge True into 1 and choke on a list.
        by_id = {i: self.store.key(i) for i in list(item_ids) if self.store.key(i)}
        ids, keys = list(by_id), list(by_id.values())
        start = time.perf_counter()
        found = self.store.lookup_many(keys)
        out: dict[int, Any] = {}
        missing = []
        for item_id, value in zip(ids, found, strict=True):
            if value is MISS or value is DOWN:
                missing.append((item_id, value is MISS))
            else:
                out[item_id] = value
        self.metrics.incr("hits", len(out))
        self.metrics.incr("misses", len(missing))
        if missing:
            if self.many_loader is None:
                for item_id, fill in missing:
                    out[item_id] = self._load(item_id, self.store.key(item_id), fill)
            else:
                self.metrics.incr("db_queries")
                loaded = self.many_loader([i for i, _ in missing])
                for item_id, fill in missing:
                    value = loaded.get(item_id)  # absent from the result: no such row
                    if fill:
                        self.store.fill(self.store.key(item_id), value, self._version_of(value))
                    out[item_id] = value
        self._read_latency.record(time.perf_counter() - start)
        return out

    def update(self, item_id: int, **fields):
        """Write through ``writer`` to the source, then invalidate the cached value."""
        if self.writer is None:
            raise TypeError("this read-through cache has no writer; pass writer=... or use "
                            "ReadThroughCache.for_users(...)")
        key = self.store.key(item_id)
        if self.store.entity == "user":
            check_fields(fields)
        start = time.perf_counter()
        value = self.writer(item_id, **fields)
        self.metrics.incr("db_queries")
        if value is not None:
            self.store.invalidate(key, self._version_of(value))
        self.metrics.latency("write").record(time.perf_counter() - start)
        return value

    write = update

    def invalidate(self, item_id: int) -> bool:
        """Drop the cached value for ``item_id`` (the next get loads it again)."""
        return self.store.invalidate(self.store.key(item_id))

    def __repr__(self) -> str:
        c = self.metrics.counters
        return (f"<ReadThroughCache {self.store.entity} ttl={self.store.ttl}s "
                f"single_flight={self.flight is not None} hits={c['hits']} misses={c['misses']} "
                f"db_queries={c['db_queries']}>")


def _process_burst(url: str, db_path: str, latency_ms: float, prefix: str, callers: int,
                   item_id: int, gate, out) -> None:
    """One worker process: its own cache (and single-flight), a thread burst once all are ready."""
    children.worker_started()
    from .server import connect
    from .workload import burst

    db = Database(db_path, latency_ms=latency_ms)
    keys = Keys.__new__(Keys)
    keys.prefix = prefix
    cache = ReadThroughCache.for_users(connect(url), db, keys, ttl=60)
    cache.store.r.ping()  # connected before the start line
    gate.wait(60)         # every process is ready: all miss at once
    burst(cache.get, callers, item_id)
    out.put(cache.metrics.counters["db_queries"])


def burst_across_processes(url: str, db: Database, keys: Keys, *, processes: int = 2,
                           callers: int = 20, item_id: int = 1) -> list[int]:
    """``processes`` processes, each with ``callers`` threads, miss one key at the same moment.

    Returns each process's database queries: single-flight coalesces within a process only,
    so expect one per process (a lock in Redis does it across processes: notebook 08).
    """
    if not (isinstance(processes, int) and 1 <= processes <= 16):
        raise ValueError(f"processes must be an int in 1..16, got {processes!r}")
    ctx = multiprocessing.get_context("spawn")  # a clean interpreter: no inherited threads
    gate, out = ctx.Barrier(processes), ctx.Queue()
    procs = [ctx.Process(target=_process_burst, daemon=True,
                         args=(url, str(db.path), db.latency_ms, keys.prefix, callers, item_id,
                               gate, out)) for _ in range(processes)]
    try:
        for p in procs:
            p.start()
            children.track(p.pid, "read-through burst worker")
        counts = [out.get(timeout=120) for _ in procs]
    finally:
        for p in procs:  # a worker that failed or hangs must not outlive the call
            if p.pid is None:
                continue  # never started
            p.join(10)
            if p.is_alive():
                p.terminate()
                p.join(5)
            children.untrack(p.pid)
    return counts
