"""Measure the brief's cache-hierarchy table on this machine (notebook 00)."""

from __future__ import annotations

import array
import http.client
import os
import re
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import redis

from .db import Database
from .keys import Keys
from .metrics import percentile

__all__ = [
    "NOMINAL_NS", "cpu_caches", "gather_ns", "chase_ns", "memory_sweep", "redis_get_ns",
    "redis_server_get_ns", "db_query_ns", "http_get_ns", "measure_ladder",
]

#: The brief's nominal latencies (ns), the middle of each range it gives.
NOMINAL_NS = {
    "L1": 1.0, "L2": 6.0, "L3": 15.0, "RAM": 100.0, "Redis": 1e6, "HTTP": 30e6, "Database": 55e6,
}


def cpu_caches() -> dict[str, int]:
    """Data-cache sizes in bytes from sysfs: {'L1': ..., 'L2': ..., 'L3': ...} (what exists)."""
    out: dict[str, int] = {}
    base = Path("/sys/devices/system/cpu/cpu0/cache")
    for index in sorted(base.glob("index*")):
        try:
            kind = (index / "type").read_text().strip()
            level = int((index / "level").read_text())
            text = (index / "size").read_text().strip()
        except (OSError, ValueError):
            continue
        if kind == "Instruction":
            continue
        m = re.fullmatch(r"(\d+)([KMG]?)", text)
        if m:
            out[f"L{level}"] = int(m.group(1)) * {"": 1, "K": 1024, "M": 2**20, "G": 2**30}[m.group(2)]
    return out or {"L1": 32 * 1024, "L2": 1 * 2**20, "L3": 32 * 2**20}  # typical, if sysfs is absent


def _best(fn: Callable[[], float], repeats: int) -> float:
    # The minimum over repeats is the least disturbed run on a shared machine.
    return min(fn() for _ in range(repeats))


def gather_ns(working_set: int, accesses: int = 2_000_000, *, random: bool = True,
              repeats: int = 5, seed: int = 0) -> float:
    """Nanoseconds per 8-byte read over ``working_set`` bytes (numpy gather).

    The reads are independent, so the CPU overlaps many cache misses: this shows where
    each level ends, but understates the latency of a single miss (see :func:`chase_ns`).
    """
    n = max(working_set // 8, 1)
    data = np.ones(n, dtype=np.int64)
    rng = np.random.default_rng(seed)
    idx = (rng.integers(0, n, size=accesses) if random else np.arange(accesses) % n).astype(np.intp)

    def once() -> float:
        start = time.perf_counter()
        data.take(idx).sum()
        return time.perf_counter() - start

    once()  # warm the pages and the caches
    return _best(once, repeats) / accesses * 1e9


def chase_ns(working_set: int, steps: int = 200_000, *, repeats: int = 3, seed: int = 0) -> float:
    """Nanoseconds per *dependent* read (pointer chasing), Python loop overhead included.

    Each read needs the previous one's result, so misses cannot overlap. Subtract the
    figure for a tiny working set to remove the interpreter's own cost per step.
    """
    n = max(working_set // 8, 2)
    rng = np.random.default_rng(seed)
    order = rng.permutation(n)
    nxt = np.empty(n, dtype=np.int64)
    nxt[order] = np.roll(order, -1)  # one cycle through every slot, in random order
    chain = array.array("q")
    chain.frombytes(nxt.tobytes())
    del nxt, order

    def once() -> float:
        i = 0
        start = time.perf_counter()
        for _ in range(steps):
            i = chain[i]
        return time.perf_counter() - start

    once()
    return _best(once, repeats) / steps * 1e9


def memory_sweep(sizes: list[int], *, accesses: int = 2_000_000, progress=None) -> list[dict]:
    """Random and sequential ns/read for each working-set size (bytes)."""
    rows = []
    for size in progress(sizes) if progress else sizes:
        rows.append({
            "working_set_bytes": size,
            "random_ns": gather_ns(size, accesses, random=True),
            "sequential_ns": gather_ns(size, accesses, random=False),
        })
    return rows


def redis_get_ns(r: redis.Redis, key: str, n: int = 2000) -> list[float]:
    """Round-trip times (ns) of GET through redis-py, one call after another."""
    r.set(key, b"x" * 100)
    times = []
    for _ in range(n):
        start = time.perf_counter_ns()
        r.get(key)
        times.append(time.perf_counter_ns() - start)
    return times


def redis_server_get_ns(r: redis.Redis, key: str, n: int = 2000) -> float:
    """Server-side cost of one GET (ns), from INFO commandstats before and after ``n`` GETs."""
    def stats() -> tuple[int, int]:
        s = r.info("commandstats").get("cmdstat_get", {"calls": 0, "usec": 0})
        return int(s["calls"]), int(s["usec"])

    r.set(key, b"x" * 100)
    calls0, usec0 = stats()
    pipe = r.pipeline(transaction=False)
    for _ in range(n):
        pipe.get(key)
    pipe.execute()
    calls1, usec1 = stats()
    return (usec1 - usec0) / max(calls1 - calls0, 1) * 1000


def db_query_ns(db: Database, n: int = 200) -> list[float]:
    """Times (ns) of primary-key queries at the database's current latency setting."""
    times = []
    for i in range(n):
        start = time.perf_counter_ns()
        db.get_user(1 + i % 100)
        times.append(time.perf_counter_ns() - start)
    return times


class _Hello(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, like a browser or a CDN client
    # Headers and body go out in two writes; with Nagle's algorithm on, the second waits for
    # the client's delayed ACK (~40 ms on Linux) and we would be timing TCP, not HTTP.
    disable_nagle_algorithm = True

    def do_GET(self):  # noqa: N802 (http.server's naming)
        body = b'{"hello": "cache"}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):  # keep notebook output clean
        pass


def http_get_ns(n: int = 500) -> list[float]:
    """Times (ns) of GET requests to a real HTTP server on loopback, over one kept-alive connection."""
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Hello)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    try:
        conn = http.client.HTTPConnection("127.0.0.1", srv.server_address[1], timeout=10)
        times = []
        for _ in range(n):
            start = time.perf_counter_ns()
            conn.request("GET", "/")
            conn.getresponse().read()
            times.append(time.perf_counter_ns() - start)
        conn.close()
        return times
    finally:
        srv.shutdown()
        srv.server_close()


def measure_ladder(r: redis.Redis, db: Database, keys: Keys, *, ram_bytes: int = 2**30,
                   knob_ms: float = 20.0, small: bool = False, progress=None) -> dict:
    """Every rung of the ladder, measured; returns rows for the chart and the raw figures."""
    caches = cpu_caches()
    accesses = 500_000 if small else 2_000_000
    steps = 50_000 if small else 200_000
    sizes = {f"{lvl} cache": max(caches.get(lvl, 32 * 1024) // 2, 4096) for lvl in ("L1", "L2", "L3")}
    sizes["RAM"] = ram_bytes
    tasks = list(sizes.items())
    raw: dict = {"caches": caches}
    # The I/O rungs go first: sweeping a 1 GiB array leaves the kernel reclaiming memory for
    # a while, which slows every system call made right after it.
    key = keys("ladder", "get")
    n = 500 if small else 3000
    raw["redis_server_ns"] = redis_server_get_ns(r, key, n)
    raw["redis_rtt_ns"] = percentile(redis_get_ns(r, key, n), 50)
    r.delete(key)
    raw["http_ns"] = percentile(http_get_ns(200 if small else 1000), 50)
    with db.latency(0):
        raw["db_off_ns"] = percentile(db_query_ns(db, 200 if small else 2000), 50)
    with db.latency(knob_ms):
        raw["db_on_ns"] = percentile(db_query_ns(db, 10 if small else 50), 50)
    rows = []
    for label, size in progress(tasks, desc="memory") if progress else tasks:
        rows.append({"level": f"{label} ({_size(size)})", "measured_ns": gather_ns(size, accesses),
                     "nominal_ns": NOMINAL_NS[label.split()[0]], "how": "independent random reads"})
    tiny, big = chase_ns(4096, steps), chase_ns(ram_bytes, steps)
    raw["chase_tiny_ns"], raw["chase_ram_ns"] = tiny, big
    rows += [
        {"level": "RAM, one dependent miss", "measured_ns": max(big - tiny, 0.1),
         "nominal_ns": NOMINAL_NS["RAM"], "how": "pointer chase minus loop overhead"},
        {"level": "Redis GET, inside the server", "measured_ns": raw["redis_server_ns"],
         "nominal_ns": NOMINAL_NS["Redis"], "how": "INFO commandstats usec_per_call"},
        {"level": "Redis GET via redis-py", "measured_ns": raw["redis_rtt_ns"],
         "nominal_ns": NOMINAL_NS["Redis"], "how": "p50 round trip on loopback"},
        {"level": "HTTP GET, local server", "measured_ns": raw["http_ns"],
         "nominal_ns": NOMINAL_NS["HTTP"], "how": "p50, keep-alive, loopback"},
        {"level": "SQLite query, knob off", "measured_ns": raw["db_off_ns"],
         "nominal_ns": NOMINAL_NS["Database"], "how": "p50 primary-key SELECT"},
        {"level": f"SQLite query, knob {knob_ms:g} ms", "measured_ns": raw["db_on_ns"],
         "nominal_ns": NOMINAL_NS["Database"], "how": "p50, simulated network round trip"},
    ]
    return {"rows": rows, "raw": raw, "cpu": os.cpu_count()}


def _size(n: int) -> str:
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 1024)):
        if n >= scale:
            return f"{n / scale:g} {unit}"
    return f"{n} B"
