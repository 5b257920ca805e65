"""LRU speed, measured side by side in one run: cachelab's two LRUs against the real thing.

    .venv/bin/python benchmarks/lru.py [--capacity 1000] [--ops 200000] [--repeats 7]

Prints ns per operation (best of interleaved repeats; loop overhead included and equal for
all) and each contender's time relative to cachetools.LRUCache, then checks the goals:
the OrderedDict LRU's hit ``get`` within 1.2x of cachetools, and its insert-with-eviction
faster than cachetools. The machine may be shared: rerun if the numbers look noisy.
"""

from __future__ import annotations

import argparse
import platform
import sys

from cachelab.lru import LinkedLRU, OrderedDictLRU
from cachelab.lru_speed import compare, scaling

BASE = "cachetools.LRUCache"
OURS = "cachelab OrderedDictLRU"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--capacity", type=int, default=1000)
    parser.add_argument("--ops", type=int, default=200_000)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--scaling", action="store_true", help="also time capacities 1e2..1e6")
    args = parser.parse_args(argv)

    print(f"Python {platform.python_version()} on {platform.machine()}; capacity {args.capacity}, "
          f"{args.ops:,} ops per pass, best of {args.repeats}")
    res = compare(args.capacity, args.ops, args.repeats)
    if BASE not in res:
        print("cachetools is not installed: pip install -e '.[bench]'")
        return 1
    base = res[BASE]
    print(f"{'contender':28s} {'hit get':>9s} {'vs cachetools':>14s} {'put+evict':>10s} {'vs cachetools':>14s}")
    for name, row in res.items():
        print(f"{name:28s} {row['get_hit_ns']:7.0f}ns {row['get_hit_ns'] / base['get_hit_ns']:13.2f}x "
              f"{row['put_evict_ns']:8.0f}ns {row['put_evict_ns'] / base['put_evict_ns']:13.2f}x")
    ours = res[OURS]
    get_ratio = ours["get_hit_ns"] / base["get_hit_ns"]
    put_ratio = ours["put_evict_ns"] / base["put_evict_ns"]
    print(f"\ngoal 1: OrderedDictLRU hit get within 1.2x of cachetools: {get_ratio:.2f}x -> "
          f"{'MET' if get_ratio <= 1.2 else 'NOT MET'}")
    print(f"goal 2: OrderedDictLRU insert-with-eviction faster than cachetools: {put_ratio:.2f}x -> "
          f"{'MET' if put_ratio < 1.0 else 'NOT MET'}")
    if args.scaling:
        print("\nns per op across capacities (O(1): flat apart from memory effects)")
        table = scaling({"OrderedDictLRU": OrderedDictLRU, "LinkedLRU": LinkedLRU},
                        [10**k for k in range(2, 7)], n=100_000, repeats=3)
        for name, rows in table.items():
            cells = "  ".join(f"{c:>7,}: {r['get_hit_ns']:4.0f}/{r['put_evict_ns']:4.0f}"
                              for c, r in rows.items())
            print(f"{name:16s} get/put  {cells}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
