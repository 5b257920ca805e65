"""TTL as invalidation: the synchronized-expiry avalanche, jitter, and the brief's adaptive TTL."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Sequence

import redis

from .. import checks
from ..codec import dumps, loads
from ..db import Database
from ..keys import Keys
from ..ttl import check_ttl, jitter
from .workers import stale_reads

__all__ = ["BRIEF_ADAPTIVE", "adaptive_ttl", "run_avalanche", "peak_per_s", "run_adaptive"]

#: The brief's rule: (minimum access count, TTL seconds), checked top down.
BRIEF_ADAPTIVE: tuple[tuple[int, float], ...] = ((1001, 3600.0), (101, 1800.0), (0, 300.0))


def adaptive_ttl(access_count: int, *, rule: Sequence[tuple[int, float]] = BRIEF_ADAPTIVE,
                 time_scale: float = 1.0, count_scale: float = 1.0) -> float:
    """The brief's adaptive TTL: more accesses, longer TTL (seconds).

    ``time_scale`` and ``count_scale`` shrink the rule so that a notebook run of seconds
    shows what hours would (e.g. 1/600: 300 s -> 0.5 s).
    """
    if isinstance(access_count, bool) or not isinstance(access_count, int) or access_count < 0:
        raise ValueError(f"access_count must be a non-negative int, got {access_count!r}")
    for threshold, ttl in rule:
        if access_count >= threshold * count_scale:
            return check_ttl(ttl * time_scale)
    return check_ttl(rule[-1][1] * time_scale)


def peak_per_s(times: Sequence[float], bin_s: float) -> float:
    """The busiest ``bin_s`` window's event count, as events per second."""
    counts: dict[int, int] = {}
    for t in times:
        b = int(t // bin_s)
        counts[b] = counts.get(b, 0) + 1
    return max(counts.values(), default=0) / bin_s


def run_avalanche(r: redis.Redis, db: Database, keys: Keys, *, n_keys: int = 200,
                  ttl: float = 2.0, spread: float = 0.0, readers: int = 8,
                  reads_per_s: float = 150.0, bin_s: float = 0.1, seed: int = 1,
                  progress=None) -> dict:
    """Write ``n_keys`` together with one TTL (± ``spread``), read them steadily, time DB queries.

    With ``spread=0`` every key expires in the same millisecond and the readers all miss
    together; with jitter (``cachelab.ttl.jitter``) the expiries spread over a window.
    Returns the DB query times (seconds since the write) and the peak queries per second.
    """
    check_ttl(ttl)
    checks.count("n_keys", n_keys, high=100_000)
    checks.fraction("spread", spread, hint=" (0.1 scatters each TTL by ±10 %)")
    checks.count("readers", readers, high=256)
    checks.positive("reads_per_s", reads_per_s, high=1e6)
    checks.positive("bin_s", bin_s, high=3600)
    rng = random.Random(seed)
    ttl_ms = int(ttl * 1000)

    def expiry_ms() -> int:
        return jitter(ttl_ms, spread, rng) if spread else ttl_ms

    names = [keys("avalanche", uid) for uid in range(1, n_keys + 1)]
    with db.latency(0):
        rows = db.get_users(range(1, n_keys + 1))
    pipe = r.pipeline(transaction=False)
    for uid, name in enumerate(names, start=1):  # the synchronized write: one batch, one TTL
        pipe.set(name, dumps(rows[uid]), px=expiry_ms())
    pipe.execute()
    t0 = time.time()
    db.reset_counters()
    duration = ttl * (1 + spread) + 0.6
    stop = threading.Event()
    lock = threading.Lock()
    misses = [0]

    def reader(k: int) -> None:
        local_rng = random.Random(seed * 1000 + k)
        interval, next_at = 1.0 / reads_per_s, time.monotonic()
        while not stop.is_set():
            uid = local_rng.randint(1, n_keys)
            raw = r.get(names[uid - 1])
            if raw is None:
                row = db.get_user(uid)
                r.set(names[uid - 1], dumps(row), px=expiry_ms())
                with lock:
                    misses[0] += 1
            else:
                loads(raw)
            next_at += interval
            delay = next_at - time.monotonic()
            if delay > 0:
                time.sleep(delay)  # pacing: each reader is a client at a steady request rate
            else:
                next_at = time.monotonic()

    threads = [threading.Thread(target=reader, args=(k,), daemon=True) for k in range(readers)]
    for t in threads:
        t.start()
    steps = int(duration / 0.1)
    for _ in (progress(range(steps), desc=f"spread {spread:.0%}", leave=False) if progress
              else range(steps)):
        time.sleep(0.1)  # the experiment's clock: readers run meanwhile
    stop.set()
    for t in threads:
        t.join(10)
    times = [t - t0 for t in db.query_times]
    r.delete(*names)
    return {"spread": spread, "ttl_s": ttl, "n_keys": n_keys, "queries": len(times),
            "query_times_s": times, "peak_qps": peak_per_s(times, bin_s), "bin_s": bin_s,
            "first_expiry_s": min(times, default=float("nan")),
            "window_s": (max(times) - min(times)) if times else 0.0}


def run_adaptive(r: redis.Redis, db: Database, keys: Keys, *, policy: str = "fixed",
                 n_keys: int = 100, duration: float = 4.0, readers: int = 4,
                 reads_per_s: float = 100.0, write_rate: float = 10.0, fixed_ttl: float = 1.0,
                 time_scale: float = 1 / 600, count_scale: float = 1 / 20, zipf_s: float = 1.1,
                 seed: int = 3) -> dict:
    """Fixed TTL against the brief's adaptive TTL under skewed (Zipf) reads and steady writes.

    Writes change the database only (TTL is the whole invalidation strategy here). Each
    read is checked against the write log: stale if it returned an older version than
    one committed before it started. Adaptive TTL also counts accesses: one INCR per read.
    """
    if policy not in ("fixed", "adaptive"):
        raise ValueError(f"policy is 'fixed' or 'adaptive', got {policy!r}")
    checks.count("n_keys", n_keys, high=100_000)
    checks.count("readers", readers, high=256)
    checks.positive("duration", duration, high=3600, hint=" (seconds)")
    checks.positive("reads_per_s", reads_per_s, high=1e6)
    checks.positive("write_rate", write_rate, high=1e6)
    check_ttl(fixed_ttl)
    keys = keys.child("adaptive", policy)
    weights = [1 / (i ** zipf_s) for i in range(1, n_keys + 1)]
    stop = threading.Event()
    reads: list[tuple[float, int, int]] = []
    writes: list[tuple[float, int, int]] = []
    ops = {"redis": 0, "db_reads": 0}
    lock = threading.Lock()
    ttls: list[float] = []

    def reader(k: int) -> None:
        rng = random.Random(seed * 100 + k)
        interval, next_at = 1.0 / reads_per_s, time.monotonic()
        while not stop.is_set():
            uid = rng.choices(range(1, n_keys + 1), weights)[0]
            started = time.time()
            name = keys("user", uid)
            n_ops = 1
            raw = r.get(name)
            if policy == "adaptive":
                count = int(r.incr(keys("count", uid)))  # the access counter the rule needs
                n_ops += 1
            if raw is None:
                row = db.get_user(uid)
                ttl = fixed_ttl if policy == "fixed" else adaptive_ttl(
                    count, time_scale=time_scale, count_scale=count_scale)
                r.set(name, dumps(row), px=int(ttl * 1000))
                n_ops += 1
                with lock:
                    ops["db_reads"] += 1
                    ttls.append(ttl)
            else:
                row = loads(raw)
            with lock:
                reads.append((started, uid, int(row["version"])))
                ops["redis"] += n_ops
            next_at += interval
            delay = next_at - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            else:
                next_at = time.monotonic()

    def writer() -> None:
        rng = random.Random(seed)
        next_at = time.monotonic()
        while not stop.is_set():
            uid = rng.randint(1, n_keys)  # writes land anywhere, hot or cold
            row = db.update_user(uid, plan=rng.choice(["free", "pro", "team"]))
            with lock:
                writes.append((time.time(), uid, int(row["version"])))
            next_at += 1.0 / write_rate
            stop.wait(max(0.0, next_at - time.monotonic()))

    threads = [threading.Thread(target=reader, args=(k,), daemon=True) for k in range(readers)]
    threads.append(threading.Thread(target=writer, daemon=True))
    for t in threads:
        t.start()
    stop.wait(duration)
    stop.set()
    for t in threads:
        t.join(10)
    stale = list(stale_reads(writes, reads))
    hot = set(range(1, max(1, n_keys // 10) + 1))
    hot_reads = sum(1 for _, uid, _ in reads if uid in hot)
    hot_stale = sum(1 for (_, uid, _), _ in stale if uid in hot)
    return {"policy": policy, "reads": len(reads), "writes": len(writes),
            "db_reads": ops["db_reads"], "stale_reads": len(stale),
            "stale_pct": 100 * len(stale) / max(len(reads), 1),
            "hot_stale_pct": 100 * hot_stale / max(hot_reads, 1),
            "max_staleness_s": max(((t[0] - s) for t, s in stale), default=0.0),
            "redis_ops_per_read": ops["redis"] / max(len(reads), 1),
            "mean_ttl_s": sum(ttls) / max(len(ttls), 1)}
