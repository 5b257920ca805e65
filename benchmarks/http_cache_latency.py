"""Latency of one GET answered by each layer: origin, hishel shared cache, nginx, browser cache.

Prints medians measured side by side in one run, and ratios to the origin. Run: make bench
(or .venv/bin/python benchmarks/http_cache_latency.py). Loopback only: the origin is local, so
these ratios show each cache's own overhead, not the network distance a CDN saves.
"""

from __future__ import annotations

import time

from cachelab import Keys, connect
from cachelab.http import Browser, CachePolicy, NginxEdge, Origin, PyEdge, find_nginx
from cachelab.keys import delete_prefix
from cachelab.metrics import percentile
from cachelab.settings import scaled


def p50_ms(browser: Browser, path: str, n: int) -> float:
    browser.get(path)  # warm: the first answer fills the caches
    times = []
    for _ in range(n):
        start = time.perf_counter()
        browser.get(path)
        times.append((time.perf_counter() - start) * 1e3)
    return percentile(times, 50)


def main() -> None:
    n = scaled(2000, 300)
    r, keys = connect(), Keys("bench12")
    rows = []
    with Origin() as origin:
        path = origin.serve("/asset", b"x" * 2048, CachePolicy(public=True, max_age=3600))
        rows.append(("origin (no cache)", p50_ms(Browser(origin.url, cache=False), path, n)))
        with PyEdge(origin.url, r=r, keys=keys) as edge:
            rows.append((f"hishel shared cache HIT ({edge.storage_kind})",
                         p50_ms(Browser(edge.url, cache=False), path, n)))
        with PyEdge(origin.url) as edge:
            rows.append(("hishel shared cache HIT (sqlite in memory)",
                         p50_ms(Browser(edge.url, cache=False), path, n)))
        if find_nginx():
            with NginxEdge(origin.url) as edge:
                rows.append(("nginx proxy_cache HIT", p50_ms(Browser(edge.url, cache=False), path, n)))
        else:
            print("nginx not installed: its row is skipped")
        rows.append(("browser (hishel private) cache hit", p50_ms(Browser(origin.url), path, n)))
    delete_prefix(r, keys)
    base = rows[0][1]
    print(f"{'layer':45} {'p50 ms':>8} {'× origin':>9}   ({n} GETs each, one run)")
    for name, ms in rows:
        print(f"{name:45} {ms:8.3f} {ms / base:9.2f}")


if __name__ == "__main__":
    main()
