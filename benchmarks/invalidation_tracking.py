"""Local hit (CLIENT TRACKING cache) vs Redis GET, and write -> local drop delay, side by side.

    .venv/bin/python benchmarks/invalidation_tracking.py

Runs on a private redis-server; prints medians and the ratio measured in this one run.
"""

from __future__ import annotations

import time

from cachelab import RedisProcess
from cachelab.invalidation import TrackingCache
from cachelab.metrics import LatencyRecorder, percentile


def main(n: int = 20_000, writes: int = 500) -> None:
    with RedisProcess() as server:
        other = server.client()
        for transport in ("redirect", "resp3"):
            drops: list[float] = []
            tc = TrackingCache(server.url, transport=transport,
                               on_invalidate=lambda keys, d=drops: d.append(time.perf_counter()))
            other.set("bench:k", "x" * 100)
            tc.get("bench:k")
            hit, rtt = LatencyRecorder(), LatencyRecorder()
            for _ in range(n):  # interleaved, so both see the same machine load
                with hit.time():
                    tc.get("bench:k")
                with rtt.time():
                    other.get("bench:k")
            delays = []
            for i in range(writes):
                tc.get("bench:k")
                before, start = len(drops), time.perf_counter()
                other.set("bench:k", str(i))
                deadline = time.monotonic() + 2
                while len(drops) == before and time.monotonic() < deadline:
                    if transport == "resp3":
                        tc.get("bench:k")
                if len(drops) > before:
                    delays.append(drops[before] - start)
            tc.close()
            h, g = hit.percentile_ms(50) * 1000, rtt.percentile_ms(50) * 1000
            print(f"{transport:8s} local hit p50 {h:6.2f} µs | Redis GET p50 {g:6.2f} µs | "
                  f"GET/hit = {g / h:5.1f}x | write->drop p50 {percentile(delays, 50) * 1e3:.3f} ms"
                  f" max {max(delays) * 1e3:.2f} ms ({len(delays)}/{writes} seen)")


if __name__ == "__main__":
    main()
