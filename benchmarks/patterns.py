"""Cache-pattern benchmarks: ratios measured side by side in one run, on this machine.

    python benchmarks/patterns.py                 # every comparison
    python benchmarks/patterns.py aside_hit_path  # just one (names below)
    python benchmarks/patterns.py --strict        # exit 1 if a goal is missed
    python benchmarks/patterns.py write_behind_throughput --latency 20 --ops 600

aside_hit_path times two things in interleaved rounds (A, B, B, A, ...) on the same
connection and reports the median of the per-round ratios, so a noisy, shared machine moves
both sides together. write_behind_throughput runs one write workload through notebook 03's
WriteThrough and both write-behind variants in one run, at the same simulated database
latency (cachelab.write_behind.experiment.compare_write_paths, also behind notebook 04's
chart). To add one, write a function taking a :class:`Bench` and returning a
:class:`Result` (or a list of them), and decorate it with ``@comparison("name")``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import redis

from cachelab import Database, Keys, delete_prefix, loads
from cachelab.aside import CacheAside
from cachelab.compare import queue_redis
from cachelab.db import DEFAULT_LATENCY_MS
from cachelab.server import connect, resolve
from cachelab.write_behind.experiment import compare_write_paths
from cachelab.write_through import WriteThrough


@dataclass
class Bench:
    """What every comparison gets: the Redis URL, a database (knob off), a key prefix."""

    url: str
    db: Database
    keys: Keys
    quick: bool = False
    latency_ms: float = DEFAULT_LATENCY_MS
    ops: int | None = None

    def client(self, connections: int = 1) -> redis.Redis:
        """A client whose pool holds ``connections`` connections (1: every call on one socket)."""
        pool = redis.BlockingConnectionPool.from_url(self.url, max_connections=connections,
                                                     timeout=30)
        return redis.Redis(connection_pool=pool)


@dataclass
class Result:
    name: str
    ratio: float
    goal: str
    met: bool
    detail: dict = field(default_factory=dict)


COMPARISONS: dict[str, Callable[[Bench], Result]] = {}


def comparison(name: str):
    """Register a comparison under ``name``."""
    def register(fn: Callable[[Bench], Result]) -> Callable[[Bench], Result]:
        COMPARISONS[name] = fn
        return fn
    return register


def interleaved(a: Callable[[], object], b: Callable[[], object], *, rounds: int,
                calls: int) -> tuple[list[float], list[float]]:
    """Per-round mean seconds per call of ``a`` and ``b``, alternating which goes first."""
    ta, tb = [], []
    for i in range(rounds):
        order = ((a, ta), (b, tb)) if i % 2 == 0 else ((b, tb), (a, ta))
        for fn, out in order:
            start = time.perf_counter()
            for _ in range(calls):
                fn()
            out.append((time.perf_counter() - start) / calls)
    return ta, tb


@comparison("aside_hit_path")
def aside_hit_path(bench: Bench) -> Result:
    """CacheAside.get on a hit against a raw redis-py GET + JSON decode, same connection."""
    client = bench.client(connections=1)
    cache = CacheAside(client, bench.db, bench.keys.child("aside"), ttl=3600)
    row = cache.get(1)                 # miss: fills
    key = cache.store.key(1)
    assert cache.get(1) == row == loads(client.get(key))

    def raw():
        return loads(client.get(key))

    def ours():
        return cache.get(1)

    for fn in (raw, ours):             # warm both paths
        for _ in range(500):
            fn()
    rounds, calls = (8, 500) if bench.quick else (20, 2000)
    t_raw, t_ours = interleaved(raw, ours, rounds=rounds, calls=calls)
    # Each round's pair ran back to back, so its ratio is what drifts least on a busy machine.
    ratio = statistics.median(o / r for o, r in zip(t_ours, t_raw, strict=True))
    client.close()
    return Result("CacheAside hit path / raw GET + JSON decode", ratio, "<= 1.15", ratio <= 1.15,
                  {"raw_us": statistics.median(t_raw) * 1e6,
                   "cache_aside_us": statistics.median(t_ours) * 1e6,
                   "calls_each": rounds * calls,
                   "hits_counted": cache.metrics.counters["hits"]})


@comparison("write_behind_throughput")
def write_behind_throughput(bench: Bench) -> list[Result]:
    """Acknowledged writes per second: each write-behind variant against WriteThrough, one run."""
    goal = 10.0
    r = connect(bench.url)  # a blocking pool: caller threads, a worker and a sampler share it
    qr, private = queue_redis(r, bench.keys)  # the stream must live where it cannot be evicted
    ops = bench.ops or (300 if bench.quick else 800)
    try:
        res = compare_write_paths(qr, bench.db, bench.keys.child("wb"), latency_ms=bench.latency_ms,
                                  ops=ops, hot_keys=100, threads=4, write_through=WriteThrough)
    finally:
        delete_prefix(qr, bench.keys)
        if private is not None:
            private.stop()
        r.close()
    wt = res["write-through"]
    out = []
    for variant in ("memory", "stream"):
        wb = res[variant]
        ratio = wb["writes_per_s"] / wt["writes_per_s"]
        out.append(Result(f"write-behind ({variant}) / WriteThrough, acked writes per second "
                          f"at {bench.latency_ms:g} ms DB latency", ratio, ">= 10", ratio >= goal,
                          {"write_through_per_s": wt["writes_per_s"],
                           "write_behind_per_s": wb["writes_per_s"], "writes_each": wb["writes"],
                           "write_through_p50_ms": wt["write_p50_ms"],
                           "write_behind_p50_ms": wb["write_p50_ms"],
                           "write_through_db_queries": wt["db_queries"],
                           "write_behind_db_queries": wb["db_queries"],
                           "drain_s": wb["drain_seconds"]}))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help=f"comparisons to run (default: all of "
                        f"{', '.join(COMPARISONS)})")
    parser.add_argument("--strict", action="store_true", help="exit 1 if a goal is missed")
    parser.add_argument("--quick", action="store_true", help="fewer rounds (a smoke test)")
    parser.add_argument("--latency", type=float, default=DEFAULT_LATENCY_MS,
                        help="simulated DB round trip for write_behind_throughput (ms)")
    parser.add_argument("--ops", type=int, help="writes per path for write_behind_throughput")
    args = parser.parse_args(argv)
    unknown = set(args.names) - set(COMPARISONS)
    if unknown:
        parser.error(f"unknown comparison(s) {sorted(unknown)}; choose from {list(COMPARISONS)}")
    url = resolve().url
    keys = Keys("bench").child("patterns")
    db = Database(name="bench-patterns", latency_ms=0)
    r = redis.Redis.from_url(url)
    delete_prefix(r, keys)
    bench = Bench(url, db, keys, quick=args.quick, latency_ms=args.latency, ops=args.ops)
    missed = 0
    try:
        for name in args.names or list(COMPARISONS):
            out = COMPARISONS[name](bench)
            for res in out if isinstance(out, list) else [out]:
                verdict = "goal met" if res.met else "GOAL MISSED"
                missed += not res.met
                details = ", ".join(f"{k}={v:.2f}" if isinstance(v, float) else f"{k}={v}"
                                    for k, v in res.detail.items())
                print(f"{res.name}: {res.ratio:.3f}x (goal {res.goal}: {verdict}) [{details}]")
    finally:
        delete_prefix(r, keys)
        r.close()
    return 1 if (args.strict and missed) else 0


if __name__ == "__main__":
    sys.exit(main())
