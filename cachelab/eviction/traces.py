"""Workloads: the two real traces shipped in ``data/traces/``, Zipf, and Zipf polluted by scans."""

from __future__ import annotations

import functools
import lzma
import os
from pathlib import Path

import numpy as np

from .. import checks

__all__ = ["TRACES", "trace_dir", "load_trace", "zipf", "zipf_top_share", "scan_polluted",
           "describe"]

#: name -> (file, what it is, the credit that must travel with it)
TRACES = {
    "oltp": ("OLTP.lis.xz", "one hour of a CODASYL database's page references (ARC paper)",
             "N. Megiddo and D. S. Modha, ARC: A Self-Tuning, Low Overhead Replacement Cache, "
             "USENIX FAST 2003"),
    "orm-busy": ("orm-busy.trace.xz", "ORM object accesses of a busy e-commerce site (cache2k)",
                 "© headissue GmbH, Jens Wilke, CC BY 4.0"),
}


def trace_dir() -> Path:
    """``data/traces`` of the checkout (or ``CACHELAB_TRACES``)."""
    env = os.environ.get("CACHELAB_TRACES")
    return Path(env) if env else Path(__file__).resolve().parents[2] / "data" / "traces"


@functools.lru_cache(maxsize=4)
def _read(name: str) -> np.ndarray:
    if name not in TRACES:
        raise ValueError(f"unknown trace {name!r}; choose one of {sorted(TRACES)}")
    path = trace_dir() / TRACES[name][0]
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: the traces ship in data/traces/ of the "
                                "cachelab checkout (or set CACHELAB_TRACES to their folder)")
    with lzma.open(path) as f:
        raw = f.read()
    if name == "oltp":
        # "block count 0 0" per line; count is always 1 here, so the key is the first field.
        keys = np.array(raw.split()[0::4], dtype=np.int64)
    else:
        keys = np.frombuffer(raw, dtype=">i4").astype(np.int64)
    keys.setflags(write=False)
    return keys


def load_trace(name: str, limit: int | None = None) -> list[int]:
    """The trace ``name`` ('oltp' or 'orm-busy') as a list of int keys, optionally its first ``limit``.

    A prefix keeps the trace's real temporal locality; sampling random requests would not.
    """
    keys = _read(name)
    if limit is not None:
        if isinstance(limit, bool) or not isinstance(limit, int):
            raise TypeError(f"limit must be an int number of requests (or None for the whole "
                            f"trace), got {type(limit).__name__} {limit!r}")
        if limit < 1:
            raise ValueError("limit must be a positive number of requests")
        keys = keys[:limit]
    return keys.tolist()  # Python ints: hashing numpy scalars would be several times slower


def zipf(n: int, universe: int, alpha: float, *, seed: int = 0) -> list[int]:
    """``n`` requests over keys 0..universe-1, key rank r requested with probability ∝ 1/r^alpha."""
    # The bound keeps the arrays below a few GB: beyond it numpy fails with MemoryError.
    checks.count("n", n, high=10**8, hint=" (requests in the trace)")
    checks.count("universe", universe, high=10**8, hint=" (distinct keys)")
    checks.number("alpha (the skew)", alpha, low=0, hint="; 0 is uniform, 1 is classic Zipf")
    rng = np.random.default_rng(seed)
    with np.errstate(over="ignore"):  # a huge alpha: rank**alpha is inf, its weight 0 (the limit)
        weights = 1.0 / np.arange(1, universe + 1, dtype=np.float64) ** alpha
    cdf = np.cumsum(weights)
    cdf /= cdf[-1]
    ranks = np.searchsorted(cdf, rng.random(n), side="right")
    ranks = np.minimum(ranks, universe - 1)
    # Shuffle ids so that popularity is not the same as key order (hash tables don't care,
    # but sampled policies and plots should not be helped by it).
    ids = rng.permutation(universe)
    return ids[ranks].tolist()


def zipf_top_share(universe: int, alpha: float, sizes) -> list[float]:
    """Probability mass of the ``size`` most popular keys: the long-run hit ratio of a cache
    that knows the popularities and keeps the top keys (the best any policy can do on average
    when requests are independent; a finite run also pays one miss per key first)."""
    with np.errstate(over="ignore"):  # a huge alpha: rank**alpha is inf, its weight 0 (the limit)
        weights = 1.0 / np.arange(1, universe + 1, dtype=np.float64) ** alpha
    share = np.cumsum(weights) / weights.sum()
    return [float(share[min(int(s), universe) - 1]) for s in sizes]


def scan_polluted(n: int, universe: int, alpha: float, *, scan_every: int, scan_length: int,
                  seed: int = 0) -> list[int]:
    """A Zipf workload interrupted every ``scan_every`` requests by a scan of ``scan_length``
    keys that are each read once and never again (a report, a backup, a crawler)."""
    checks.count("scan_every", scan_every, hint=" (requests between two scans)")
    checks.count("scan_length", scan_length, low=0, high=10**7)
    base = zipf(n, universe, alpha, seed=seed)
    out: list[int] = []
    next_scan_key = universe  # scan keys never collide with the hot keys
    for start in range(0, n, scan_every):
        out.extend(base[start:start + scan_every])
        out.extend(range(next_scan_key, next_scan_key + scan_length))
        next_scan_key += scan_length
    return out


def describe(trace: list) -> dict:
    """Requests, unique keys and the share of requests that are first references."""
    unique = len(set(trace))
    return {"requests": len(trace), "unique": unique,
            "max_hit_ratio": 1 - unique / len(trace) if trace else 0.0}
