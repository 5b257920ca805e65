"""A paced read/write workload over any cache pattern, measuring latency, DB load and staleness.

Every pattern in notebooks 01-06 has the same small surface (:class:`Pattern`): ``read(id)``,
``write(id, **fields)`` and a :class:`~cachelab.metrics.Metrics` with ``hits``, ``misses``
and ``db_queries``. :func:`run_workload` drives one with a fixed request rate (an open loop,
so a faster pattern does not simply get more requests), skewed key popularity and a
read/write mix, and reports what it measured, including *stale reads*: reads that started
after a write was acknowledged and still returned an older version of the row.
"""

from __future__ import annotations

import math
import random
import threading
import time
from bisect import bisect_right
from dataclasses import asdict, dataclass, field
from itertools import accumulate
from typing import Protocol, runtime_checkable

from . import checks
from .db import Database
from .metrics import Metrics, percentile

__all__ = ["Pattern", "WorkloadResult", "burst", "run_workload", "zipf_weights"]

PLANS = ("free", "pro", "team")
#: Upper bounds of a run: far above a laptop's throughput and a workshop's patience, low enough
#: that rate * duration_s stays a count the scheduler can loop over.
MAX_RATE, MAX_DURATION_S = 1e6, 3600.0


@runtime_checkable
class Pattern(Protocol):
    """What notebook 06 (and :func:`run_workload`) needs from a cache pattern."""

    name: str
    metrics: Metrics

    def read(self, user_id: int) -> dict | None: ...

    def write(self, user_id: int, **fields: str) -> dict | None: ...


def zipf_weights(n: int, skew: float) -> list[float]:
    """Popularity of ids 1..n: weight 1/rank**skew (0 = uniform, 1 = classic Zipf)."""
    if n < 1:
        raise ValueError(f"need at least one id, got {n}")
    if not (isinstance(skew, (int, float)) and 0 <= skew <= 5):
        raise ValueError(f"skew must be a number in [0, 5], got {skew!r}")
    return [1 / (rank ** skew) for rank in range(1, n + 1)]


@dataclass
class WorkloadResult:
    """What one run measured. Times are seconds since the run started; latencies are ms."""

    pattern: str
    duration_s: float
    reads: int = 0
    writes: int = 0
    errors: int = 0
    error_samples: list[str] = field(default_factory=list)
    hits: int = 0
    misses: int = 0
    db_queries: int = 0
    read_ms: list[float] = field(default_factory=list)
    write_ms: list[float] = field(default_factory=list)
    db_query_times: list[float] = field(default_factory=list)
    stale_times: list[float] = field(default_factory=list)
    stale_ages_s: list[float] = field(default_factory=list)

    @property
    def hit_ratio(self) -> float:
        """hits / (hits + misses) as the pattern counted them."""
        return self.hits / (self.hits + self.misses) if self.hits + self.misses else math.nan

    @property
    def stale_reads(self) -> int:
        """Reads that returned a version older than one already acknowledged to a writer."""
        return len(self.stale_times)

    def summary(self) -> dict:
        """Plain numbers (JSON-serialisable) for tables and a notebook's ``results``."""
        def pct(values, p):
            return round(percentile(values, p), 3) if values else None

        return {
            "pattern": self.pattern, "duration_s": round(self.duration_s, 3),
            "reads": self.reads, "writes": self.writes, "errors": self.errors,
            "hit_ratio": None if math.isnan(self.hit_ratio) else round(self.hit_ratio, 4),
            "db_queries": self.db_queries,
            "db_queries_per_s": round(self.db_queries / self.duration_s, 1),
            "read_p50_ms": pct(self.read_ms, 50), "read_p99_ms": pct(self.read_ms, 99),
            "write_p50_ms": pct(self.write_ms, 50), "write_p99_ms": pct(self.write_ms, 99),
            "stale_reads": self.stale_reads,
            "stale_fraction": round(self.stale_reads / self.reads, 4) if self.reads else 0.0,
            "max_stale_s": round(max(self.stale_ages_s), 3) if self.stale_ages_s else 0.0,
        }

    def to_dict(self) -> dict:
        """Everything, as plain lists and numbers."""
        return asdict(self)


def run_workload(pattern: Pattern, db: Database, *, duration_s: float = 3.0, rate: float = 400.0,
                 threads: int = 8, users: int = 200, write_ratio: float = 0.05,
                 skew: float = 1.0, seed: int = 0) -> WorkloadResult:
    """Send ``rate`` requests/s for ``duration_s`` seconds from ``threads`` threads; measure.

    Requests are scheduled at fixed times (a thread that falls behind catches up without
    sleeping). Each is a write with probability ``write_ratio`` (``write(id, plan=...)``),
    otherwise a read; ids 1..``users`` are drawn with Zipf ``skew``.
    """
    checks.positive("duration_s", duration_s, high=MAX_DURATION_S, hint=" (seconds of load)")
    # An unbounded rate would schedule more requests than the run could ever send (a hang).
    checks.positive("rate", rate, high=MAX_RATE, hint=" (requests per second)")
    missing = [a for a in ("metrics", "read", "write") if not hasattr(pattern, a)]
    if missing:
        raise TypeError(f"pattern needs metrics, read(id) and write(id, **fields) (e.g. a "
                        f"CacheAside); {type(pattern).__name__} has no {', '.join(missing)}")
    checks.count("threads", threads, high=256, hint=" (client threads sending the load)")
    checks.count("users", users, high=10**6, hint=" (distinct ids the load draws from)")
    checks.number("write_ratio", write_ratio, low=0, high=1,
                  hint=" (the share of requests that are writes, e.g. 0.05)")
    cum = list(accumulate(zipf_weights(users, skew)))
    before = pattern.metrics.counters.snapshot()
    res = WorkloadResult(pattern=getattr(pattern, "name", type(pattern).__name__),
                         duration_s=float(duration_s))
    lock = threading.Lock()
    latest: dict[int, int] = {}                   # user id -> newest acknowledged version
    acked: dict[int, list[tuple[int, float]]] = {}  # user id -> [(version, ack time)], ascending
    t0_wall, t0 = time.time(), time.perf_counter()
    total = int(rate * duration_s)

    def worker(i: int) -> None:
        rng = random.Random(seed * 1_000 + i)
        for n in range(i, total, threads):
            due = t0 + n / rate
            wait = due - time.perf_counter()
            if wait > 0:
                time.sleep(wait)  # pacing: the request is not due yet
            uid = bisect_right(cum, rng.random() * cum[-1]) + 1
            uid = min(uid, users)
            is_write = rng.random() < write_ratio
            start = time.perf_counter()
            try:
                if is_write:
                    row = pattern.write(uid, plan=rng.choice(PLANS))
                else:
                    with lock:
                        known = latest.get(uid, 0)
                    row = pattern.read(uid)
            except Exception as exc:  # counted and sampled: a run never dies of one request
                with lock:
                    res.errors += 1
                    if len(res.error_samples) < 5:
                        res.error_samples.append(f"{type(exc).__name__}: {exc}")
                continue
            end = time.perf_counter()
            ms = (end - start) * 1000
            with lock:
                if is_write:
                    res.writes += 1
                    res.write_ms.append(ms)
                    if row is not None:
                        v = row["version"]
                        acked.setdefault(uid, []).append((v, end - t0))
                        acked[uid].sort()
                        latest[uid] = max(latest.get(uid, 0), v)
                else:
                    res.reads += 1
                    res.read_ms.append(ms)
                    if row is not None and row["version"] < known:
                        # stale: a newer version was acknowledged before this read began
                        newer = next(t for v, t in acked[uid] if v > row["version"])
                        res.stale_times.append(start - t0)
                        res.stale_ages_s.append(max(0.0, start - t0 - newer))

    pool = [threading.Thread(target=worker, args=(i,), name=f"load-{i}", daemon=True)
            for i in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    res.duration_s = max(duration_s, time.perf_counter() - t0)
    after = pattern.metrics.counters.snapshot()
    res.hits = after.get("hits", 0) - before.get("hits", 0)
    res.misses = after.get("misses", 0) - before.get("misses", 0)
    res.db_queries = after.get("db_queries", 0) - before.get("db_queries", 0)
    res.db_query_times = [t - t0_wall for t in db.query_times if t >= t0_wall]
    return res


def burst(fn, callers: int, *args) -> tuple[list, list[float]]:
    """Call ``fn(*args)`` from ``callers`` threads released at the same instant.

    Returns (results, latencies in ms), one each per caller, in thread order. An exception
    is returned as the caller's result, so one failure does not hide the others.
    """
    if not (isinstance(callers, int) and 1 <= callers <= 1000):
        raise ValueError(f"callers must be an int in 1..1000, got {callers!r}")
    gate = threading.Barrier(callers)
    results: list = [None] * callers
    latencies = [0.0] * callers

    def run(i: int) -> None:
        gate.wait()
        start = time.perf_counter()
        try:
            results[i] = fn(*args)
        except Exception as exc:
            results[i] = exc
        latencies[i] = (time.perf_counter() - start) * 1000

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(callers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results, latencies
