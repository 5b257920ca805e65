"""Concurrent load generator: many clients, a controlled arrival rate, one record per request.

Clients are threads (sync redis-py), optionally spread over several worker processes. On a
2-core machine this measured faster than asyncio with ``redis.asyncio`` (see
``benchmarks/load.py``), and it lets the defences be ordinary blocking code; worker processes
are what a lock across processes needs to be shown honestly.

A run returns a :class:`LoadResult`: one row per request (scheduled start, latency, outcome,
key, process, client) and one row per database query (from :class:`cachelab.db.Database`'s
cross-process log), as pandas DataFrames.
"""

from .keysets import HotKey, Zipf
from .result import COLUMNS, OUTCOMES, LoadResult
from .run import LoadError, RedisGet, redis_url, run_load

__all__ = ["OUTCOMES", "COLUMNS", "HotKey", "Zipf", "LoadResult", "LoadError", "RedisGet",
           "run_load", "redis_url"]
