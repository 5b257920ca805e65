"""What a cluster costs, as ratios measured side by side in one run (notebook 13).

1. GET round trip: RedisCluster client against a plain client on the owning node.
2. SET + WAIT 1 against a plain SET on the same master (the price of knowing a write is replicated).
3. Failover window against the spec's lower bound, for two node timeouts.

Run: .venv/bin/python benchmarks/cluster_costs.py   (starts and stops its own cluster)
"""

from __future__ import annotations

import time

from cachelab import Database, Keys
from cachelab.cluster import LocalCluster, key_slot
from cachelab.cluster.failover import failover_demo, spec_window
from cachelab.metrics import percentile
from cachelab.settings import scaled


def p50_us(fn, n: int) -> float:
    """Median duration of ``fn()`` in microseconds, after a short warm-up."""
    for _ in range(50):
        fn()
    times = []
    for _ in range(n):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return percentile(times, 50) * 1e6


def main() -> None:
    n = scaled(5000, 1000)
    keys = Keys("bench13")
    db = Database(name="bench13", latency_ms=20)
    with LocalCluster("bench13") as cluster:
        rc = cluster.client()
        key = keys("user", 1)
        rc.set(key, "v")
        node = cluster.node_client(cluster.slot_owner(key_slot(key))["port"])
        # Interleave the two so both see the same machine load.
        plain, routed = [], []
        for _ in range(5):
            plain.append(p50_us(lambda: node.get(key), n // 5))
            routed.append(p50_us(lambda: rc.get(key), n // 5))
        plain_us, routed_us = sorted(plain)[2], sorted(routed)[2]
        print(f"GET p50: plain node client {plain_us:.0f} µs, RedisCluster {routed_us:.0f} µs "
              f"-> ratio {routed_us / plain_us:.2f}")

        writer = cluster.node_client(cluster.slot_owner(key_slot(key))["port"],
                                     single_connection_client=True)

        def set_wait():
            pipe = writer.pipeline(transaction=False)
            pipe.set(key, "v")
            pipe.execute_command("WAIT", 1, 1000)
            pipe.execute()

        sets, waits = [], []
        for _ in range(5):
            sets.append(p50_us(lambda: writer.set(key, "v"), n // 5))
            waits.append(p50_us(set_wait, n // 5))
        set_us, wait_us = sorted(sets)[2], sorted(waits)[2]
        print(f"write p50: SET {set_us:.0f} µs, SET + WAIT 1 {wait_us:.0f} µs "
              f"-> ratio {wait_us / set_us:.2f}")

        for timeout in (1000, 2000):
            run = failover_demo(cluster, keys.child("fo", timeout), db, node_timeout_ms=timeout,
                                users=300, threads=4, before_s=1.0, after_s=1.0)
            s = run.summary()
            lo, hi = spec_window(timeout)
            print(f"node timeout {timeout} ms: write window {s['window_s']:.2f} s, promoted at "
                  f"{s['promoted_s']:.2f} s; spec {lo:.1f}-{hi:.1f} s -> window / spec low "
                  f"{s['window_s'] / lo:.2f}, inside: {lo <= s['promoted_s'] <= hi}")
        rc.close()


if __name__ == "__main__":
    main()
