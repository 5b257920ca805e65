"""One workload through three write paths: a write-through baseline and both write-behinds.

Used by notebook 04's widget and by ``benchmarks/write_behind.py``, so the figures there and
the chart in the notebook come from the same code.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable

import redis

from ..codec import dumps, loads
from ..db import Database
from ..keys import Keys
from ..metrics import Metrics
from ..progress import counting
from .durable import StreamWriteBehind
from .memory import MemoryWriteBehind

__all__ = ["DirectWrite", "run_mix", "compare_write_paths"]


class DirectWrite:
    """The write-through shape, minimal: each write updates the database, then the cache.

    A baseline for timing only (notebook 03 builds write-through properly): the caller
    waits for the database on every write, which is the cost write-behind removes.
    """

    def __init__(self, r: redis.Redis, db: Database, keys: Keys, *, ttl: int = 300,
                 metrics: Metrics | None = None):
        self.r, self.db, self.keys, self.ttl = r, db, keys, ttl
        self.metrics = metrics or Metrics()
        self.flush_log: list[tuple[float, int]] = []

    def read(self, user_id: int) -> dict | None:
        """Cache first, database on a miss."""
        raw = self.r.get(self.keys("user", user_id))
        if raw is not None:
            self.metrics.incr("hits")
            return loads(raw)
        self.metrics.incr("misses")
        self.metrics.incr("db_queries")
        row = self.db.get_user(user_id)
        if row is not None:
            self.r.set(self.keys("user", user_id), dumps(row), ex=self.ttl)
        return row

    def write(self, user_id: int, **fields) -> dict | None:
        """Database first (the caller waits for it), then the cache."""
        self.metrics.incr("db_queries")
        row = self.db.update_user(user_id, **fields)
        self.flush_log.append((time.time(), 1))
        if row is not None:
            self.r.set(self.keys("user", user_id), dumps(row), ex=self.ttl)
        self.metrics.incr("writes")
        return row

    get, update = read, write

    def close(self) -> None:
        """Nothing queued, nothing to flush."""


def run_mix(cache, ids: list[int], *, ops: int, threads: int = 4, read_fraction: float = 0.0,
            seed: int = 0) -> dict:
    """``threads`` callers share ``ops`` operations on ``ids``; a ``read_fraction`` are reads."""
    if not 0 <= read_fraction <= 1:
        raise ValueError("read_fraction is a fraction in [0, 1]")
    per_thread = [ops // threads + (1 if n < ops % threads else 0) for n in range(threads)]
    write_lat: list[float] = []
    read_lat: list[float] = []
    acks: list[float] = []
    lock = threading.Lock()

    def caller(n: int) -> None:
        rng = random.Random(seed * 7919 + n)
        w, rd, a = [], [], []
        for i in range(per_thread[n]):
            uid = rng.choice(ids)
            t = time.perf_counter()
            if rng.random() < read_fraction:
                cache.read(uid)
                rd.append(time.perf_counter() - t)
            else:
                cache.write(uid, plan=f"t{n}-{i}")
                w.append(time.perf_counter() - t)
                a.append(time.time())
        with lock:
            write_lat.extend(w)
            read_lat.extend(rd)
            acks.extend(a)

    workers = [threading.Thread(target=caller, args=(n,)) for n in range(threads)]
    start = time.perf_counter()
    for t in workers:
        t.start()
    for t in workers:
        t.join()
    return {"seconds": time.perf_counter() - start, "write_latencies": write_lat,
            "read_latencies": read_lat, "acks": sorted(acks)}


def _sample_depth(fn, stop: threading.Event, out: list, every: float = 0.02) -> None:
    while not stop.is_set():
        out.append((time.time(), fn()))
        stop.wait(every)
    out.append((time.time(), fn()))


def compare_write_paths(r: redis.Redis, db: Database, keys: Keys, *, latency_ms: float = 20,
                        ops: int = 2000, hot_keys: int = 100, batch_size: int = 100,
                        read_fraction: float = 0.0, ttl: int = 300, threads: int = 4,
                        variants: tuple[str, ...] = ("write-through", "memory", "stream"),
                        seed: int = 0, write_through: Callable[..., object] | None = None,
                        progress: bool = False) -> dict:
    """Run one workload through each write path at the same DB latency; measure it all.

    Every cache is warmed first (the hot users loaded once, untimed), so writes measure the
    write path, not first loads. Returns, per variant: acknowledged writes per second,
    seconds until the database had everything, DB queries, write latency percentiles, and
    time series (acks, rows written, queue depth) for the charts. ``write_through(r, db, keys,
    ttl=)`` builds the write-through side (default :class:`DirectWrite`; benchmarks/patterns.py
    passes notebook 03's ``WriteThrough``). ``progress`` shows a bar over the variants.
    """
    ids = list(range(1, min(hot_keys, db.n_users) + 1))
    out: dict = {"params": {"latency_ms": latency_ms, "ops": ops, "hot_keys": len(ids),
                            "batch_size": batch_size, "read_fraction": read_fraction,
                            "ttl": ttl, "threads": threads}}
    bar = counting(len(variants), "write paths", unit="path", enabled=progress)
    for name in variants:
        bar.set_description(f"write path: {name}")
        sub = keys.child("cmp", name, seed)
        worker, stop, worker_thread = None, threading.Event(), None
        if name == "write-through":
            cache = (write_through or DirectWrite)(r, db, sub, ttl=ttl)
        elif name == "memory":
            cache = MemoryWriteBehind(r, db, sub, ttl=ttl, batch_size=batch_size)
        elif name == "stream":
            cache = StreamWriteBehind(r, db, sub, ttl=ttl)
            worker = cache.worker(batch_size=batch_size, block_ms=50)
        else:
            raise ValueError(f"unknown variant {name!r}")
        with db.latency(0):
            for uid in ids:
                cache.read(uid)
        cache.metrics.reset()
        depth: list[tuple[float, int]] = []
        sampler = None
        if name != "write-through":
            sampler = threading.Thread(target=_sample_depth, args=(
                (lambda c=cache: c.queue_depth), stop, depth))
        if worker is not None:
            worker_thread = threading.Thread(target=worker.run, args=(stop,))
        with db.latency(latency_ms):
            q0 = db.query_count
            t0 = time.time()
            for t in (sampler, worker_thread):
                if t is not None:
                    t.start()
            run = run_mix(cache, ids, ops=ops, threads=threads, read_fraction=read_fraction,
                          seed=seed)
            if name == "memory":
                cache.flush()
            elif name == "stream":
                while cache.queue_depth:
                    time.sleep(0.01)
            drained = time.time() - t0
            stop.set()
            for t in (sampler, worker_thread):
                if t is not None:
                    t.join()
            queries = db.query_count - q0
        getattr(cache, "close", lambda: None)()  # WriteThrough has nothing to close
        log = worker.flush_log if worker is not None else getattr(cache, "flush_log", None)
        if log is None:  # a synchronous write commits before it is acknowledged: one per ack
            log = [(t, 1) for t in run["acks"]]
        writes = len(run["write_latencies"])
        lat = Metrics()
        for s in run["write_latencies"]:
            lat.latency("write").record(s)
        for s in run["read_latencies"]:
            lat.latency("read").record(s)
        summary = lat.snapshot()
        out[name] = {
            "writes": writes, "reads": len(run["read_latencies"]),
            "ack_seconds": run["seconds"], "drain_seconds": drained,
            "writes_per_s": writes / run["seconds"] if run["seconds"] else float("nan"),
            "db_queries": queries, "db_write_statements": len(log),
            "rows_written": sum(n for _, n in log),
            "write_p50_ms": summary.get("write_p50_ms"), "write_p99_ms": summary.get("write_p99_ms"),
            "read_p50_ms": summary.get("read_p50_ms"), "read_p99_ms": summary.get("read_p99_ms"),
            "acks": [a - t0 for a in run["acks"]],
            "flushes": [(t - t0, n) for t, n in log],
            "depth": [(t - t0, n) for t, n in depth],
        }
        bar.update()
    bar.close()
    return out
