"""Redis's approximated LRU, simulated: sample a few keys, evict the idlest, keep a pool.

Redis keeps no recency list. On eviction it samples ``maxmemory-samples`` keys, puts them
in a 16-entry pool ordered by idle time, and evicts the idlest key of the pool (``evict.c``).
Idle time comes from a per-key timestamp on a clock that ticks once per second
(``LRU_CLOCK_RESOLUTION`` = 1000 ms). ``resolution`` models that clock here: the number of
requests per tick (1 = an exact clock).
"""

from __future__ import annotations

import random
from collections.abc import Hashable

from .policies import Policy

__all__ = ["SampledLRU"]

POOL_SIZE = 16  # EVPOOL_SIZE in Redis's evict.c


class SampledLRU(Policy):
    """Approximated LRU the Redis way: ``samples`` random keys per eviction into a 16-key pool."""

    name = "sampled LRU"

    def __init__(self, capacity: int, samples: int = 5, *, resolution: int = 1, seed: int = 0):
        super().__init__(capacity)
        if samples < 1 or resolution < 1:
            raise ValueError("samples and resolution must be at least 1")
        self.samples = samples
        self.resolution = resolution
        self.name = f"sampled LRU ({samples})"
        self._rng = random.Random(seed)
        self._stamp: dict = {}  # key -> clock tick of its last access
        self._keys: list = []  # resident keys, for O(1) random sampling
        self._slot: dict = {}  # key -> index in _keys
        self._pool: list[tuple[int, Hashable]] = []  # (idle, key), ascending idle
        self._requests = 0

    def access(self, key: Hashable) -> bool:
        self._requests += 1
        now = self._requests // self.resolution
        stamp = self._stamp
        if key in stamp:
            stamp[key] = now
            return True
        if len(stamp) >= self.capacity:
            self._evict(now)
        stamp[key] = now
        self._slot[key] = len(self._keys)
        self._keys.append(key)
        return False

    def _populate(self, now: int) -> None:
        """Sample keys into the pool like evictionPoolPopulate: keep the 16 idlest seen."""
        pool, keys, stamp = self._pool, self._keys, self._stamp
        for _ in range(self.samples):
            key = keys[self._rng.randrange(len(keys))]
            idle = now - stamp[key]
            k = 0
            while k < len(pool) and pool[k][0] < idle:
                k += 1
            if k == 0 and len(pool) >= POOL_SIZE:
                continue  # no idler than anything in a full pool
            pool.insert(k, (idle, key))
            if len(pool) > POOL_SIZE:
                pool.pop(0)  # drop the least idle

    def _evict(self, now: int) -> None:
        stamp = self._stamp
        while True:
            self._populate(now)
            while self._pool:
                # The idlest entry; its idle time may be stale (Redis does not refresh the pool).
                _, victim = self._pool.pop()
                if victim in stamp:
                    self._remove(victim)
                    return

    def _remove(self, key: Hashable) -> None:
        del self._stamp[key]
        i = self._slot.pop(key)
        last = self._keys.pop()
        if i < len(self._keys):  # fill the hole with the last key (unless it was the last)
            self._keys[i] = last
            self._slot[last] = i

    def __len__(self) -> int:
        return len(self._stamp)

    def __contains__(self, key: Hashable) -> bool:
        return key in self._stamp
