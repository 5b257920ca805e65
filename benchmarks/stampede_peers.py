"""Stampede defences side by side: cachelab's against dogpile.cache and cashews, same run.

One hot key, a real query behind it (50 ms simulated round trip + real SQLite work), Poisson
arrivals from many clients split over worker processes. For each contender: database queries
per expiry (mean and worst) and p50/p99 latency, interleaved over rounds and reported as
medians, because the machine may be shared.

    .venv/bin/python benchmarks/stampede_peers.py [--clients 200] [--rate 1000] [--ttl 2]
        [--db-ms 50] [--expiries 4] [--processes 2] [--rounds 2]

Goal: cachelab's best defence at least matches the best peer on queries per expiry and on
p50/p99 latency.
"""

from __future__ import annotations

import argparse
import statistics

from cachelab import Database, Keys, connect
from cachelab.stampede import run_peer, run_stampede
from cachelab.stampede.peers import PEERS, peers_available

OURS = ["lock", "lock+single-flight", "xfetch", "refresh-ahead", "swr"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clients", type=int, default=200)
    ap.add_argument("--rate", type=float, default=1000)
    ap.add_argument("--ttl", type=float, default=2.0)
    ap.add_argument("--db-ms", type=float, default=50)
    ap.add_argument("--expiries", type=int, default=4)
    ap.add_argument("--processes", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--only", default="", help="comma-separated contenders (default: all)")
    args = ap.parse_args()
    names = ["none", *OURS, *PEERS]
    if args.only:
        names = [n for n in names if n in args.only.split(",")]
        if not names:
            raise SystemExit(f"--only matches none of {['none', *OURS, *PEERS]}")
    missing = {m: why for m, why in peers_available().items() if why}
    if missing:
        raise SystemExit(f"peers missing: {missing}")

    r = connect()
    keys = Keys("bench").child("peers")
    db = Database(name="bench08")
    work = {"ttl": args.ttl, "clients": args.clients, "rate": args.rate,
            "db_latency_ms": args.db_ms, "expiries": args.expiries, "processes": args.processes}
    print(f"{args.clients} clients over {args.processes} processes, {args.rate:g} req/s, "
          f"TTL {args.ttl:g} s, DB {args.db_ms:g} ms (simulated) + real SQLite, "
          f"{args.expiries} expiries per run, {args.rounds} rounds")
    runs: dict[str, list[dict]] = {}
    for rnd in range(args.rounds):
        for name in names:
            if name in PEERS:
                s = run_peer(r, db, keys, name, **work).summary
            else:
                s = run_stampede(r, db, keys, name, **work).summary
            runs.setdefault(name, []).append(s)
            print(f"  round {rnd + 1}: {name:42s} per expiry {s['per_expiry']} "
                  f"p50 {s['p50_ms']:.2f} ms p99 {s['p99_ms']:.1f} ms errors {s['error']}",
                  flush=True)

    rows = {}
    for name, summaries in runs.items():
        per = [q for s in summaries for q in s["per_expiry"]]
        rows[name] = {
            "per_expiry": statistics.mean(per) if per else 0.0,
            "worst": max(per, default=0),
            "p50": statistics.median(s["p50_ms"] for s in summaries),
            "p99": statistics.median(s["p99_ms"] for s in summaries),
            "errors": sum(s["error"] for s in summaries),
        }
    print(f"\n{'contender':44s} {'DB q/expiry':>11s} {'worst':>6s} {'p50 ms':>8s} {'p99 ms':>8s} "
          f"{'errors':>7s}")
    for name, row in rows.items():
        tag = "peer " if name in PEERS else "ours " if name != "none" else "     "
        print(f"{tag}{name:39s} {row['per_expiry']:11.2f} {row['worst']:6d} {row['p50']:8.2f} "
              f"{row['p99']:8.1f} {row['errors']:7d}")

    def rank(name):  # fewest queries per expiry first, then the lower p99
        return (round(rows[name]["per_expiry"], 1), rows[name]["p99"])

    if not any(n in OURS for n in rows) or not any(n in PEERS for n in rows):
        return
    ours = min((n for n in OURS if n in rows), key=rank)
    peer = min((n for n in PEERS if n in rows), key=rank)
    o, p = rows[ours], rows[peer]
    print(f"\nbest of ours: {ours} ({o['per_expiry']:.2f} q/expiry, p50 {o['p50']:.2f} ms, "
          f"p99 {o['p99']:.1f} ms)")
    print(f"best peer:    {peer} ({p['per_expiry']:.2f} q/expiry, p50 {p['p50']:.2f} ms, "
          f"p99 {p['p99']:.1f} ms)")
    for label, mine, theirs in (("queries per expiry", o["per_expiry"], p["per_expiry"]),
                                ("p50", o["p50"], p["p50"]), ("p99", o["p99"], p["p99"])):
        verdict = "matches or beats" if mine <= theirs * 1.05 else "is behind"
        print(f"  {label}: ours/peer = {mine / theirs:.2f} → cachelab {verdict} the best peer")


if __name__ == "__main__":
    main()
