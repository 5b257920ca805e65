"""The same N Redis operations sent five ways, timed: where round trips go (notebook 11).

``separate`` pays one round trip per command; ``pipeline`` sends all N and reads all N
replies in one go; ``multi`` is a pipeline wrapped in MULTI/EXEC (atomic as well);
``mset_mget`` is one multi-key command; ``lua`` is one EVALSHA that loops inside Redis.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence

import redis

from .keys import Keys
from .netdelay import DelayProxy

__all__ = ["METHODS", "run_batch", "time_batch", "ping_rtt_us", "throughput_sweep",
           "pipeline_speedup", "speedup_with_delay"]

METHODS = ("separate", "pipeline", "multi", "mset_mget", "lua")

# KEYS: the keys to write
# ARGV: one value per key, in the same order
# Returns: the number of keys written
_LUA_SET = """
for i, key in ipairs(KEYS) do
  redis.call('SET', key, ARGV[i])
end
return #KEYS
"""

# KEYS: the keys to read
# ARGV: none
# Returns: one value per key (false where missing), in order
_LUA_GET = """
local out = {}
for i, key in ipairs(KEYS) do
  out[i] = redis.call('GET', key)
end
return out
"""

_scripts: dict = {}


def _script(r: redis.Redis, op: str):
    # One Script per op: it remembers the SHA, and is always called with client=r, which
    # loads the script again if that server has not seen it (NOSCRIPT).
    if op not in _scripts:
        _scripts[op] = r.register_script(_LUA_SET if op == "set" else _LUA_GET)
    return _scripts[op]


def run_batch(r: redis.Redis, keys: Keys, method: str, n: int, op: str = "set") -> list:
    """Do ``n`` SETs (or GETs) of ``keys("rt", i)`` the way ``method`` says; return the replies."""
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if op not in ("set", "get"):
        raise ValueError("op must be 'set' or 'get'")
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive int, got {n!r}")
    names = [keys("rt", i) for i in range(n)]
    values = [str(i) for i in range(n)]
    if method == "separate":
        if op == "set":
            return [r.set(k, v) for k, v in zip(names, values, strict=True)]
        return [r.get(k) for k in names]
    if method in ("pipeline", "multi"):
        pipe = r.pipeline(transaction=(method == "multi"))
        for k, v in zip(names, values, strict=True):
            if op == "set":
                pipe.set(k, v)
            else:
                pipe.get(k)
        return pipe.execute()
    if method == "mset_mget":
        return [r.mset(dict(zip(names, values, strict=True)))] if op == "set" else r.mget(names)
    script = _script(r, op)
    if op == "set":
        return [script(keys=names, args=values, client=r)]
    return script(keys=names, client=r)


def time_batch(r: redis.Redis, keys: Keys, method: str, n: int, *, op: str = "set",
               repeats: int = 3) -> float:
    """Best-of-``repeats`` seconds for one batch (the least disturbed run on a busy machine)."""
    run_batch(r, keys, method, min(n, 10), op)  # warm up: connection made, script loaded
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        run_batch(r, keys, method, n, op)
        best = min(best, time.perf_counter() - start)
    return best


def ping_rtt_us(r: redis.Redis, n: int = 200) -> float:
    """Median PING round trip in microseconds."""
    r.ping()
    samples = []
    for _ in range(n):
        start = time.perf_counter()
        r.ping()
        samples.append(time.perf_counter() - start)
    samples.sort()
    return samples[len(samples) // 2] * 1e6


def throughput_sweep(r: redis.Redis, keys: Keys, batch_sizes: Iterable[int],
                     methods: Sequence[str] = METHODS, *, op: str = "set", repeats: int = 3,
                     progress: Callable | None = None) -> list[dict]:
    """Operations per second for every method × batch size, measured side by side."""
    cells = [(n, m) for n in batch_sizes for m in methods]
    rows = []
    for n, method in (progress(cells, desc="batches") if progress else cells):
        seconds = time_batch(r, keys, method, n, op=op, repeats=repeats)
        rows.append({"method": method, "batch": n, "op": op, "seconds": seconds,
                     "ops_per_s": n / seconds, "us_per_op": seconds / n * 1e6})
    return rows


def pipeline_speedup(r: redis.Redis, keys: Keys, n: int, *, repeats: int = 3) -> dict:
    """Separate calls against one pipeline for the same ``n`` SETs: times and their ratio."""
    separate = time_batch(r, keys, "separate", n, repeats=repeats)
    pipeline = time_batch(r, keys, "pipeline", n, repeats=repeats)
    return {"batch": n, "separate_s": separate, "pipeline_s": pipeline,
            "ratio": separate / pipeline}


def speedup_with_delay(r: redis.Redis, keys: Keys, batch_sizes: Iterable[int], rtt_ms: float,
                       *, repeats: int = 3, proxy: DelayProxy | None = None) -> list[dict]:
    """:func:`pipeline_speedup` direct and through a :class:`DelayProxy` adding ``rtt_ms``.

    Also counts the round trips the proxy saw for each way, so the ratio can be read as
    "N trips against 1".
    """
    own = proxy is None
    proxy = proxy or DelayProxy.for_client(r).start()
    proxy.rtt_ms = rtt_ms
    far = proxy.client(r)
    try:
        far_rtt_us = ping_rtt_us(far, 20)
        rows = []
        for n in batch_sizes:
            near = pipeline_speedup(r, keys, n, repeats=repeats)
            proxy.reset_counters()
            run_batch(far, keys, "separate", n)
            separate_trips = proxy.round_trips
            proxy.reset_counters()
            run_batch(far, keys, "pipeline", n)
            pipeline_trips = proxy.round_trips
            away = pipeline_speedup(far, keys, n, repeats=repeats)
            rows.append({"batch": n, "rtt_ms": rtt_ms, "measured_rtt_us": far_rtt_us,
                         "loopback_ratio": near["ratio"], "delayed_ratio": away["ratio"],
                         "loopback": near, "delayed": away,
                         "separate_round_trips": separate_trips,
                         "pipeline_round_trips": pipeline_trips})
        return rows
    finally:
        far.close()
        if own:
            proxy.stop()
