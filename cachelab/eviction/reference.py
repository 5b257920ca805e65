"""libCacheSim as the reference: run its C implementations on exactly the trace we simulate.

The trace is written in libCacheSim's ``oracleGeneral`` binary format (24 bytes a request:
uint32 time, uint64 id, uint32 size, int64 next access), with every object of size 1, so a
cache of N "bytes" holds N objects, the unit cachelab's policies use.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np

__all__ = ["LIBCACHESIM_NAMES", "available", "write_oracle_general", "run", "compare"]

#: cachelab policy name -> libCacheSim class name
LIBCACHESIM_NAMES = {
    "FIFO": "FIFO", "LRU": "LRU", "LFU": "LFU", "CLOCK": "Clock", "SIEVE": "Sieve", "ARC": "ARC",
    "S3-FIFO": "S3FIFO", "W-TinyLFU": "WTinyLFU", "Belady": "Belady",
}

#: options that make a cachelab policy compute what the libCacheSim one does
REFERENCE_OPTIONS = {"Belady": {"bypass": False}}

_ORACLE = np.dtype([("time", "<u4"), ("id", "<u8"), ("size", "<u4"), ("next", "<i8")])


def _lcs():
    try:
        import libcachesim
    except ImportError as exc:  # an optional reference: say how to get it
        raise ImportError("libCacheSim's Python package is not installed: run "
                          "`.venv/bin/pip install -e '.[bench]'` (make lab/test do this)") from exc
    return libcachesim


def available() -> bool:
    """True when the ``libcachesim`` package can be imported."""
    try:
        _lcs()
    except ImportError:
        return False
    return True


def write_oracle_general(trace: list, path: Path) -> Path:
    """Write ``trace`` as an oracleGeneral file (ids renumbered 1.., next-access filled in)."""
    arr = np.asarray(trace)
    _, ids = np.unique(arr, return_inverse=True)
    n = len(arr)
    rec = np.zeros(n, dtype=_ORACLE)
    rec["time"] = np.arange(n, dtype=np.uint32)
    rec["id"] = ids.astype(np.uint64) + 1
    rec["size"] = 1
    nxt = np.full(n, -1, dtype=np.int64)  # -1: never requested again
    order = np.argsort(ids, kind="stable")
    same = ids[order[1:]] == ids[order[:-1]]
    nxt[order[:-1][same]] = order[1:][same]
    rec["next"] = nxt
    rec.tofile(path)
    return path


def run(trace: list, sizes: list[int], policies: list[str], *,
        repeats: int = 1) -> dict[str, dict[int, dict]]:
    """libCacheSim's hit ratio and time for each policy and size: ``{policy: {size: {...}}}``.

    The hash table is sized for the trace's keys (libCacheSim's default, 2^24 buckets, spends
    more time faulting in pages than simulating a trace this small). Time is the best of
    ``repeats`` runs of ``process_trace``, which reads the binary trace as it goes.
    """
    lcs = _lcs()
    hashpower = max(16, (2 * len(set(trace))).bit_length())
    out: dict[str, dict[int, dict]] = {}
    with tempfile.TemporaryDirectory(prefix="cachelab-lcs-") as tmp:
        path = write_oracle_general(trace, Path(tmp) / "trace.oracleGeneral.bin")
        reader = lcs.TraceReader(str(path), lcs.TraceType.ORACLE_GENERAL_TRACE)
        for name in policies:
            cls = getattr(lcs, LIBCACHESIM_NAMES[name])
            out[name] = {}
            for size in sizes:
                best = float("inf")
                for _ in range(repeats):
                    cache = cls(int(size), hashpower=hashpower)
                    start = time.perf_counter()
                    miss_ratio, _ = cache.process_trace(reader)
                    best = min(best, time.perf_counter() - start)
                out[name][int(size)] = {"hit_ratio": 1.0 - miss_ratio, "seconds": best}
    return out


def compare(trace: list, sizes: list[int], policies: list[str], *,
            repeats: int = 1) -> list[dict]:
    """cachelab against libCacheSim, one row per (policy, size): hit ratios, gap in points, speed.

    Times are the best of ``repeats`` runs on each side.
    """
    from .simulate import make, simulate

    ref = run(trace, sizes, policies, repeats=repeats)
    rows = []
    for name in policies:
        for size in sizes:
            runs = [simulate(make(name, size, **REFERENCE_OPTIONS.get(name, {})), trace)
                    for _ in range(repeats)]
            ours = min(runs, key=lambda result: result.seconds)
            theirs = ref[name][int(size)]
            rows.append({
                "policy": name, "size": int(size), "cachelab": ours.hit_ratio,
                "libcachesim": theirs["hit_ratio"],
                "gap_pp": 100 * (ours.hit_ratio - theirs["hit_ratio"]),
                "cachelab_s": ours.seconds, "libcachesim_s": theirs["seconds"],
                "slowdown": ours.seconds / theirs["seconds"] if theirs["seconds"] > 0 else None,
            })
    return rows
