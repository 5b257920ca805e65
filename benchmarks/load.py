"""How fast is cachelab's load generator? Its GET rate against redis-benchmark's, same run.

Both drive the same server with the same number of connections, closed loop (each client
sends its next GET when the last one returns), interleaved so that noise from a shared
machine hits both alike. Also measured, to justify how the generator is built: raw
threads, asyncio with redis.asyncio, and worker processes, on the same workload.

    .venv/bin/python benchmarks/load.py [--clients 50] [--seconds 3] [--rounds 3]

Goal: the generator reaches at least 0.25 of redis-benchmark's rate.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import io
import shutil
import statistics
import subprocess
import threading
import time

import redis
import redis.asyncio as aredis

from cachelab import Keys, connect
from cachelab.load import RedisGet, redis_url, run_load


def redis_benchmark(url: str, clients: int, seconds: float, guess_rps: float) -> float:
    """redis-benchmark -t get: requests per second."""
    exe = shutil.which("redis-benchmark")
    if exe is None:
        raise SystemExit("redis-benchmark not found (it ships with redis-server: apt-get install "
                         "redis-tools / redis-server)")
    n = max(20_000, int(guess_rps * seconds))
    out = subprocess.run([exe, "-u", url, "-t", "get", "-c", str(clients), "-n", str(n), "--csv"],
                         capture_output=True, text=True, timeout=300, check=True).stdout
    rows = list(csv.reader(io.StringIO(out)))
    return float(next(row for row in rows if row and row[0] == "GET")[1])


def generator(url: str, key: str, clients: int, seconds: float, processes: int) -> float:
    """cachelab.load.run_load, closed loop, plain GETs: requests per second."""
    res = run_load(factory=RedisGet(url, pool=clients + 8), keys=key, clients=clients,
                   duration=seconds, processes=processes)
    assert res.summary()["error"] == 0, res.requests["error"].dropna().head().tolist()
    return len(res.requests) / seconds


def raw_threads(url: str, key: str, clients: int, seconds: float) -> float:
    """The floor under any threaded generator: threads doing nothing but GET."""
    r = redis.Redis(connection_pool=redis.BlockingConnectionPool.from_url(url,
                                                                          max_connections=clients))
    counts = [0] * clients
    stop = time.monotonic() + seconds

    def work(i: int) -> None:
        n = 0
        while time.monotonic() < stop:
            r.get(key)
            n += 1
        counts[i] = n

    threads = [threading.Thread(target=work, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    r.close()
    return sum(counts) / seconds


def raw_asyncio(url: str, key: str, clients: int, seconds: float) -> float:
    """The same with asyncio tasks and redis.asyncio, one event loop."""

    async def main() -> int:
        r = aredis.Redis(connection_pool=aredis.BlockingConnectionPool.from_url(
            url, max_connections=clients))
        stop = time.monotonic() + seconds
        counts = [0] * clients

        async def work(i: int) -> None:
            n = 0
            while time.monotonic() < stop:
                await r.get(key)
                n += 1
            counts[i] = n

        await asyncio.gather(*(work(i) for i in range(clients)))
        await r.aclose()
        return sum(counts)

    return asyncio.run(main()) / seconds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()

    r = connect()
    url = redis_url(r)
    key = Keys("bench")("load", "hot")
    r.set(key, "x" * 100)
    rates: dict[str, list[float]] = {}
    ways = {
        "redis-benchmark -t get": None,
        "cachelab.load, 1 process (threads)": lambda: generator(url, key, args.clients,
                                                                args.seconds, 1),
        "cachelab.load, 2 processes": lambda: generator(url, key, args.clients, args.seconds, 2),
        "raw threads, GET only": lambda: raw_threads(url, key, args.clients, args.seconds),
        "raw asyncio (redis.asyncio), GET only": lambda: raw_asyncio(url, key, args.clients,
                                                                     args.seconds),
    }
    try:
        for rnd in range(args.rounds):  # interleaved: machine noise hits every contender alike
            for name, fn in ways.items():
                if fn is None:
                    guess = statistics.median(rates[name]) if name in rates else 50_000
                    value = redis_benchmark(url, args.clients, args.seconds, guess)
                else:
                    value = fn()
                rates.setdefault(name, []).append(value)
                print(f"  round {rnd + 1}: {name:40s} {value:10,.0f} GET/s", flush=True)
    finally:
        r.delete(key)
    base = statistics.median(rates["redis-benchmark -t get"])
    print(f"\n{args.clients} connections, closed loop, {args.rounds} interleaved rounds "
          "(medians; the machine may be shared):")
    print(f"{'contender':42s} {'GET/s':>10s} {'ratio vs redis-benchmark':>26s}")
    for name, values in rates.items():
        med = statistics.median(values)
        print(f"{name:42s} {med:10,.0f} {med / base:26.2f}")
    best = max(statistics.median(rates[n]) for n in rates if n.startswith("cachelab"))
    verdict = "meets" if best / base >= 0.25 else "MISSES"
    print(f"\nload generator: {best / base:.2f} of redis-benchmark ({verdict} the 0.25 goal)")


if __name__ == "__main__":
    main()
