"""Tag-based invalidation: each tag is a Redis set of cache keys; one script deletes them all."""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from typing import Any

import redis

from ..codec import dumps, loads
from ..keys import Keys, scan_keys
from ..ttl import check_ttl
from .common import key_parts, memory_of
from .local import MISSING

__all__ = ["TAG_SET", "TAG_INVALIDATE", "TagCache", "measure_tag_cost"]

# KEYS[1]     the cache key
# KEYS[2..n]  the tag sets the key belongs to
# ARGV[1]     the encoded value
# ARGV[2]     TTL in milliseconds
# returns     the number of tags the key was added to
# Each tag set lives at least as long as its newest member, so it cannot expire while a
# member it lists is still readable (that member would then escape invalidation).
TAG_SET = """
local ttl = tonumber(ARGV[2])
redis.call('SET', KEYS[1], ARGV[1], 'PX', ttl)
for i = 2, #KEYS do
  redis.call('SADD', KEYS[i], KEYS[1])
  if redis.call('PTTL', KEYS[i]) < ttl then
    redis.call('PEXPIRE', KEYS[i], ttl)
  end
end
return #KEYS - 1
"""

# KEYS[1]  the tag set
# returns  the number of cache keys that existed and were deleted
# Runs atomically: no reader sees half a tag invalidated, no writer adds a member the
# deletion then misses. Members are deleted in chunks because Lua's unpack() has a limit.
# (Touching keys not listed in KEYS is fine on one server; in Redis Cluster, give the tag
# and its members one hash tag, e.g. cachelab:07:{user:42}:profile.)
TAG_INVALIDATE = """
local members = redis.call('SMEMBERS', KEYS[1])
local deleted = 0
for i = 1, #members, 1000 do
  deleted = deleted + redis.call('UNLINK', unpack(members, i, math.min(i + 999, #members)))
end
redis.call('DEL', KEYS[1])
return deleted
"""


class TagCache:
    """Values stored with tags; :meth:`invalidate` deletes every key carrying a tag, atomically."""

    def __init__(self, r: redis.Redis, keys: Keys, ttl: float = 300):
        self.r, self.keys, self.ttl = r, keys, check_ttl(ttl)
        self._set = r.register_script(TAG_SET)
        self._invalidate = r.register_script(TAG_INVALIDATE)

    def key(self, *parts: str | int) -> str:
        """The cache key for ``parts``."""
        return self.keys("data", *parts)

    def tag_key(self, tag: str | int) -> str:
        """The Redis set that lists the keys tagged ``tag``."""
        return self.keys("tag", tag)

    def set(self, parts: Sequence[str | int], value: Any, tags: Iterable[str | int],
            ttl: float | None = None) -> str:
        """Store ``value`` under ``parts`` and add its key to each tag's set (one round trip)."""
        ttl = self.ttl if ttl is None else check_ttl(ttl)
        key = self.key(*key_parts(parts))
        if isinstance(tags, (str, bytes)):
            raise TypeError(f"tags is a list of tag names, e.g. [{tags!r}]: a bare str would tag "
                            "the key with each of its letters")
        tag_keys = [self.tag_key(t) for t in tags]
        self._set(keys=[key, *tag_keys], args=[dumps(value), max(1, int(ttl * 1000))])
        return key

    def get(self, *parts: str | int) -> Any:
        """The value, or :data:`MISSING`."""
        raw = self.r.get(self.key(*parts))
        return MISSING if raw is None else loads(raw)

    def invalidate(self, tag: str | int) -> int:
        """Delete every key tagged ``tag`` and the tag set itself; return how many keys went."""
        return int(self._invalidate(keys=[self.tag_key(tag)]))

    def members(self, tag: str | int) -> set[str]:
        """The keys listed under ``tag`` (some may have expired since)."""
        return {m.decode() if isinstance(m, bytes) else m for m in self.r.smembers(self.tag_key(tag))}

    def overhead_bytes(self) -> int:
        """Memory Redis spends on the tag sets themselves (MEMORY USAGE)."""
        return memory_of(self.r, scan_keys(self.r, self.keys.pattern("tag")))


def measure_tag_cost(r: redis.Redis, keys: Keys, sizes: Sequence[int], repeats: int = 3,
                     progress=None) -> list[dict]:
    """Time one tag invalidation (and the Redis memory of its set) for each tag size."""
    rows = []
    for size in progress(sizes) if progress else sizes:
        cache = TagCache(r, keys.child("cost", size), ttl=600)
        times, set_bytes = [], 0
        for _ in range(repeats):
            pipe = r.pipeline(transaction=False)
            for i in range(size):  # members written in bulk; the script is what we time
                k = cache.key("item", i)
                pipe.set(k, b'{"v":1}', ex=600)
                pipe.sadd(cache.tag_key("big"), k)
            pipe.execute()
            set_bytes = r.memory_usage(cache.tag_key("big"), samples=0) or 0
            start = time.perf_counter()
            deleted = cache.invalidate("big")
            times.append(time.perf_counter() - start)
            if deleted != size:
                raise AssertionError(f"tag of {size} keys deleted {deleted}")
        times.sort()
        rows.append({"tag_size": size, "invalidate_ms": times[len(times) // 2] * 1000,
                     "per_key_us": times[len(times) // 2] / size * 1e6, "tag_set_bytes": set_bytes})
    return rows
