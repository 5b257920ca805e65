"""Timing the LRUs: O(1) across capacities, and speed against functools, cachetools, cachebox.

Every figure is nanoseconds per operation measured on this machine, best of several
interleaved repeats (a shared machine only ever adds time, so the minimum is the least
disturbed run). Claims are made as ratios between contenders measured in the same run.
"""

from __future__ import annotations

import functools
import random
import time
from collections import deque
from collections.abc import Callable, Sequence

from .lru import LinkedLRU, OrderedDictLRU, check_capacity

__all__ = ["ListLRU", "HashTableOnly", "maker", "contenders", "per_op_ns", "scaling", "compare"]


class ListLRU:
    """The naive LRU: a Python list in recency order. ``list.remove`` makes every hit O(n)."""

    def __init__(self, capacity: int):
        self.capacity = check_capacity(capacity)
        self._order: list = []
        self._values: dict = {}

    def get(self, key, default=None):
        if key not in self._values:
            return default
        self._order.remove(key)  # a linear scan: the whole point of this class
        self._order.append(key)
        return self._values[key]

    def put(self, key, value) -> None:
        if key in self._values:
            self._order.remove(key)
        elif len(self._order) >= self.capacity:
            del self._values[self._order.pop(0)]
        self._order.append(key)
        self._values[key] = value


class HashTableOnly(dict):
    """A plain dict with the LRU method names: the hash table's own cost, no recency, no eviction."""

    def __init__(self, capacity: int):
        super().__init__()

    put = dict.__setitem__


def _drive(fn: Callable, *args: Sequence) -> float:
    """Seconds to call ``fn`` over the argument columns, with the loop itself in C."""
    start = time.perf_counter()
    deque(map(fn, *args), maxlen=0)
    return time.perf_counter() - start


def maker(cls: Callable, capacity: int) -> Callable[[], tuple[Callable, Callable]]:
    """A factory for :func:`per_op_ns`: a fresh ``cls(capacity)``'s bound (get, put)."""
    def make() -> tuple[Callable, Callable]:
        cache = cls(capacity)
        return cache.get, cache.put
    return make


def contenders(capacity: int) -> dict[str, Callable[[], tuple[Callable, Callable]]]:
    """name -> factory returning (get(key), put(key, value)) on a fresh cache of ``capacity``.

    ``functools.lru_cache`` caches a function, not a mapping: its "get" is a call that hits,
    its "put" a call with a new argument (a miss: call the identity function, store, evict).
    Peers that are not installed are left out.
    """
    out: dict[str, Callable[[], tuple[Callable, Callable]]] = {
        "cachelab OrderedDictLRU": maker(OrderedDictLRU, capacity),
        "cachelab LinkedLRU": maker(LinkedLRU, capacity),
    }

    def lru_cache():
        @functools.lru_cache(maxsize=capacity)
        def identity(key):
            return key
        return identity, lambda key, value: identity(key)
    out["functools.lru_cache (C)"] = lru_cache

    try:
        import cachetools
    except ImportError:
        pass
    else:
        def tools():
            cache = cachetools.LRUCache(maxsize=capacity)
            return cache.get, cache.__setitem__
        out["cachetools.LRUCache"] = tools
    try:
        import cachebox
    except ImportError:
        pass
    else:
        def box():
            cache = cachebox.LRUCache(capacity)
            return cache.get, cache.insert
        out["cachebox.LRUCache (Rust)"] = box
    return out


def per_op_ns(make: Callable[[], tuple[Callable, Callable]], capacity: int, n: int,
              *, seed: int = 0) -> dict[str, float]:
    """One timed pass: ns per hit ``get`` and per insert that evicts, on a full cache."""
    get, put = make()
    resident = list(range(capacity))
    for k in resident:
        put(k, k)
    rnd = random.Random(seed)
    hits = [rnd.choice(resident) for _ in range(n)]
    hit_s = _drive(get, hits)
    fresh = list(range(capacity, capacity + n))  # never seen: every put evicts one key
    put_s = _drive(put, fresh, fresh)
    return {"get_hit_ns": 1e9 * hit_s / n, "put_evict_ns": 1e9 * put_s / n}


def compare(capacity: int = 1000, n: int = 200_000, repeats: int = 5,
            names: Sequence[str] | None = None, progress=None) -> dict[str, dict[str, float]]:
    """ns/op for every contender, best of ``repeats`` rounds that interleave the contenders.

    ``progress`` (e.g. ``tqdm``) wraps the rounds.
    """
    if isinstance(repeats, bool) or not isinstance(repeats, int) or repeats < 1:
        raise ValueError(f"repeats must be an int >= 1, got {repeats!r}")
    makers = contenders(capacity)
    if names is not None:
        makers = {k: v for k, v in makers.items() if k in names}
    best: dict[str, dict[str, float]] = {}
    rounds = range(repeats) if progress is None else progress(range(repeats), desc="rounds",
                                                              leave=False)
    for r in rounds:
        for name, make in makers.items():
            run = per_op_ns(make, capacity, n, seed=r)
            slot = best.setdefault(name, dict(run))
            for k, v in run.items():
                slot[k] = min(slot[k], v)
    return best


def scaling(classes: dict[str, type], capacities: Sequence[int], *, n: int = 100_000,
            repeats: int = 3, max_capacity: dict[str, int] | None = None,
            progress=None) -> dict[str, dict[int, dict[str, float]]]:
    """ns/op per class and capacity (skipping capacities above ``max_capacity[name]``)."""
    limits = max_capacity or {}
    out: dict[str, dict[int, dict[str, float]]] = {name: {} for name in classes}
    jobs = [(name, c) for c in capacities for name in classes if c <= limits.get(name, c)]
    if progress is not None:
        jobs = progress(jobs, desc="timing", leave=False)
    for name, capacity in jobs:
        make = maker(classes[name], capacity)
        runs = [per_op_ns(make, capacity, n, seed=r) for r in range(repeats)]
        out[name][capacity] = {k: min(run[k] for run in runs) for k in runs[0]}
    return out
