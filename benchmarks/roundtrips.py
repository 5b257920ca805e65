"""Pipeline against separate calls, at batch sizes 10/100/1000, with and without the delay proxy.

    .venv/bin/python benchmarks/roundtrips.py [--rtt-ms 1.0] [--repeats 3] [--batches 10 100 1000]

Prints the time of N separate SETs, one pipeline of N SETs and their ratio, directly on
loopback and through cachelab's DelayProxy adding ``--rtt-ms`` of real round-trip time, all
measured side by side in one run (best of ``--repeats``). Also prints the other batched ways
(MULTI/EXEC, MSET, Lua) on loopback for reference.
"""

from __future__ import annotations

import argparse
import platform

import redis as redis_py

from cachelab import Keys, connect, delete_prefix
from cachelab.roundtrips import METHODS, ping_rtt_us, speedup_with_delay, throughput_sweep


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rtt-ms", type=float, default=1.0, help="round trip the proxy adds (ms)")
    parser.add_argument("--repeats", type=int, default=3, help="best of this many runs per cell")
    parser.add_argument("--batches", type=int, nargs="+", default=[10, 100, 1000])
    args = parser.parse_args(argv)

    r = connect()
    keys = Keys("bench").child("roundtrips")
    delete_prefix(r, keys)
    info = r.info("server")
    print(f"Redis {info['redis_version']} ({r.cachelab_source}) · redis-py {redis_py.__version__} · "
          f"Python {platform.python_version()} · loopback PING p50 {ping_rtt_us(r, 500):.0f} µs")
    try:
        rows = speedup_with_delay(r, keys, args.batches, args.rtt_ms, repeats=args.repeats)
        print(f"\nSETs: separate calls vs one pipeline (best of {args.repeats}); proxy adds "
              f"{args.rtt_ms:g} ms RTT, PING through it {rows[0]['measured_rtt_us'] / 1000:.2f} ms")
        print(f"{'batch':>6} | {'loopback sep':>12} {'pipe':>9} {'ratio':>7} | "
              f"{'+' + format(args.rtt_ms, 'g') + ' ms sep':>12} {'pipe':>9} {'ratio':>7} | trips sep/pipe")
        for row in rows:
            near, far = row["loopback"], row["delayed"]
            print(f"{row['batch']:>6} | {near['separate_s'] * 1e3:>9.2f} ms {near['pipeline_s'] * 1e3:>6.2f} ms "
                  f"{near['ratio']:>6.1f}× | {far['separate_s'] * 1e3:>9.2f} ms {far['pipeline_s'] * 1e3:>6.2f} ms "
                  f"{far['ratio']:>6.1f}× | {row['separate_round_trips']}/{row['pipeline_round_trips']}")

        sweep = throughput_sweep(r, keys, args.batches, METHODS, repeats=args.repeats)
        print("\nLoopback throughput, SET (operations/s):")
        print(f"{'batch':>6} " + " ".join(f"{m:>11}" for m in METHODS))
        for n in args.batches:
            cells = {row["method"]: row["ops_per_s"] for row in sweep if row["batch"] == n}
            print(f"{n:>6} " + " ".join(f"{cells[m]:>11,.0f}" for m in METHODS))
    finally:
        delete_prefix(r, keys)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
