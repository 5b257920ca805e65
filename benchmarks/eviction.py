"""Simulator speed and agreement with libCacheSim, measured side by side in one run.

    .venv/bin/python benchmarks/eviction.py [--requests 914145] [--size 2000] [--repeats 3]

1. The Python LRU simulator in requests per second: the generic ``access`` loop and the
   OrderedDict fast path (goal: at least 1M requests/s).
2. Every policy against libCacheSim (C) on the same trace and size: hit ratios (agreement
   within 0.5 points is the goal for FIFO, LRU, CLOCK, SIEVE, ARC, S3-FIFO) and how many
   times slower the teaching code is.
The machine may be shared: times are the best of --repeats runs.
"""

from __future__ import annotations

import argparse
import sys

from cachelab.eviction import POLICIES, load_trace, speed
from cachelab.eviction.reference import available, compare

AGREE = {"FIFO", "LRU", "CLOCK", "SIEVE", "ARC", "S3-FIFO"}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=914_145, help="trace prefix length")
    parser.add_argument("--size", type=int, default=2000, help="cache size in objects")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)

    failed = False
    for name in ("oltp", "orm-busy"):
        trace = load_trace(name, args.requests)
        print(f"\n== {name}: {len(trace):,} requests, {len(set(trace)):,} keys, cache {args.size:,}")
        rates = speed(trace, args.size, repeats=args.repeats)
        for path, rate in rates.items():
            print(f"LRU simulator, {path:15s}: {rate / 1e6:5.2f} M requests/s "
                  f"({'meets' if rate >= 1e6 else 'BELOW'} the 1M/s goal)")
        if not available():
            print("libcachesim not installed (pip install -e '.[bench]'): comparison skipped")
            continue
        rows = compare(trace, [args.size], list(POLICIES), repeats=args.repeats)
        print(f"{'policy':10s} {'cachelab':>9s} {'libCacheSim':>12s} {'gap (pp)':>9s} "
              f"{'cachelab M/s':>13s} {'libCacheSim M/s':>16s} {'slower':>7s}")
        for row in rows:
            n = len(trace)
            ok = abs(row["gap_pp"]) <= 0.5
            mark = "" if row["policy"] not in AGREE else ("  ok" if ok else "  OUTSIDE 0.5pp")
            failed |= row["policy"] in AGREE and not ok
            print(f"{row['policy']:10s} {row['cachelab']:9.4f} {row['libcachesim']:12.4f} "
                  f"{row['gap_pp']:+9.3f} {n / row['cachelab_s'] / 1e6:13.2f} "
                  f"{n / row['libcachesim_s'] / 1e6:16.2f} {row['slowdown']:6.1f}x{mark}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
