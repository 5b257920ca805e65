"""LRU caches from scratch: on an OrderedDict, on a dict plus a doubly linked list, and locked."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable, Iterator
from typing import Any, NamedTuple

__all__ = ["MISSING", "CacheInfo", "OrderedDictLRU", "LinkedLRU", "ThreadSafeLRU",
           "check_capacity", "race"]


class _Missing:
    """The type of :data:`MISSING`: a value no caller can store by accident."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "MISSING"


#: Pass as ``default`` to tell "not cached" from a cached ``None``: ``cache.get(k, MISSING)``.
MISSING: Any = _Missing()


class CacheInfo(NamedTuple):
    """Statistics in the shape of ``functools.lru_cache``'s, plus evictions."""

    hits: int
    misses: int
    evictions: int
    maxsize: int
    currsize: int

    @property
    def hit_ratio(self) -> float:
        """hits / lookups (0.0 before the first lookup)."""
        lookups = self.hits + self.misses
        return self.hits / lookups if lookups else 0.0


def check_capacity(capacity: object) -> int:
    """Return ``capacity`` if it is a positive int, else raise a clear error."""
    # bool is an int subclass: LRU(True) would silently be a one-entry cache.
    if isinstance(capacity, bool) or not isinstance(capacity, int):
        raise TypeError(f"capacity must be an int number of entries, got "
                        f"{type(capacity).__name__} {capacity!r}")
    if capacity < 1:
        raise ValueError(f"capacity must be at least 1 entry, got {capacity}; "
                         "a cache that can hold nothing only adds misses")
    return capacity


class OrderedDictLRU:
    """LRU on ``collections.OrderedDict``: the front is least recent, the end most recent."""

    __slots__ = ("_data", "capacity", "hits", "misses", "evictions")

    def __init__(self, capacity: int):
        self.capacity = check_capacity(capacity)
        self._data: OrderedDict = OrderedDict()
        self.hits = self.misses = self.evictions = 0

    def get(self, key: Hashable, default: Any = None) -> Any:
        """The cached value (now most recent), or ``default`` when ``key`` is not cached."""
        data = self._data
        # One lookup through .get with a private sentinel: a stored None is a hit like any value.
        value = data.get(key, MISSING)
        if value is MISSING:
            self.misses += 1
            return default
        data.move_to_end(key)
        self.hits += 1
        return value

    def __getitem__(self, key: Hashable) -> Any:
        value = self.get(key, MISSING)
        if value is MISSING:
            raise KeyError(key)
        return value

    def put(self, key: Hashable, value: Any) -> None:
        """Store ``value`` as the most recent entry, evicting the least recent one if full."""
        data = self._data
        if key in data:
            data.move_to_end(key)
            data[key] = value
            return
        data[key] = value
        if len(data) > self.capacity:
            data.popitem(last=False)
            self.evictions += 1

    __setitem__ = put

    def delete(self, key: Hashable) -> bool:
        """Remove ``key``; True if it was cached."""
        return self._data.pop(key, MISSING) is not MISSING

    def __contains__(self, key: Hashable) -> bool:
        """Membership without touching recency or statistics."""
        return key in self._data

    def __len__(self) -> int:
        return len(self._data)

    def keys(self) -> list:
        """Keys from least to most recently used."""
        return list(self._data)

    def clear(self) -> None:
        """Drop every entry and zero the statistics."""
        self._data.clear()
        self.hits = self.misses = self.evictions = 0

    def cache_info(self) -> CacheInfo:
        """hits, misses, evictions, maxsize, currsize."""
        return CacheInfo(self.hits, self.misses, self.evictions, self.capacity, len(self._data))

    def __repr__(self) -> str:
        return f"{type(self).__name__}(capacity={self.capacity}, size={len(self._data)})"


class _Node:
    """One entry in the recency list."""

    __slots__ = ("key", "value", "prev", "next")

    def __init__(self, key, value):
        self.key = key
        self.value = value
        self.prev: _Node | None = None
        self.next: _Node | None = None


class LinkedLRU:
    """LRU on a dict of nodes plus a doubly linked list between two sentinel nodes.

    ``head.next`` is the most recent entry, ``tail.prev`` the least recent. The sentinels
    mean no operation ever checks for an empty list or a missing neighbour.
    """

    __slots__ = ("_map", "_head", "_tail", "capacity", "hits", "misses", "evictions")

    def __init__(self, capacity: int):
        self.capacity = check_capacity(capacity)
        self._map: dict[Hashable, _Node] = {}
        self._head = _Node(MISSING, MISSING)
        self._tail = _Node(MISSING, MISSING)
        self._head.next, self._tail.prev = self._tail, self._head
        self.hits = self.misses = self.evictions = 0

    # The two list primitives; every operation is built from them.
    def _unlink(self, node: _Node) -> None:
        node.prev.next = node.next
        node.next.prev = node.prev

    def _push_front(self, node: _Node) -> None:
        first = self._head.next
        node.prev, node.next = self._head, first
        first.prev = node
        self._head.next = node

    def get(self, key: Hashable, default: Any = None) -> Any:
        """The cached value (now most recent), or ``default`` when ``key`` is not cached."""
        node = self._map.get(key)
        if node is None:
            self.misses += 1
            return default
        self._unlink(node)
        self._push_front(node)
        self.hits += 1
        return node.value

    def __getitem__(self, key: Hashable) -> Any:
        value = self.get(key, MISSING)
        if value is MISSING:
            raise KeyError(key)
        return value

    def put(self, key: Hashable, value: Any) -> None:
        """Store ``value`` as the most recent entry, evicting the least recent one if full."""
        node = self._map.get(key)
        if node is not None:
            node.value = value
            self._unlink(node)
            self._push_front(node)
            return
        node = _Node(key, value)
        self._map[key] = node
        self._push_front(node)
        if len(self._map) > self.capacity:
            lru = self._tail.prev
            self._unlink(lru)
            del self._map[lru.key]
            self.evictions += 1

    __setitem__ = put

    def delete(self, key: Hashable) -> bool:
        """Remove ``key``; True if it was cached."""
        node = self._map.pop(key, None)
        if node is None:
            return False
        self._unlink(node)
        return True

    def __contains__(self, key: Hashable) -> bool:
        """Membership without touching recency or statistics."""
        return key in self._map

    def __len__(self) -> int:
        return len(self._map)

    def _walk(self, limit: int) -> Iterator[_Node]:
        node = self._tail.prev
        for _ in range(limit):
            if node is self._head or node is None:
                return
            yield node
            node = node.prev

    def keys(self) -> list:
        """Keys from least to most recently used."""
        return [node.key for node in self._walk(len(self._map) + 1)]

    def clear(self) -> None:
        """Drop every entry and zero the statistics."""
        self._map.clear()
        self._head.next, self._tail.prev = self._tail, self._head
        self.hits = self.misses = self.evictions = 0

    def cache_info(self) -> CacheInfo:
        """hits, misses, evictions, maxsize, currsize."""
        return CacheInfo(self.hits, self.misses, self.evictions, self.capacity, len(self._map))

    def problems(self) -> list[str]:
        """Broken invariants of the list and the map (empty when the structure is sound)."""
        found: list[str] = []
        limit = len(self._map) + self.capacity + 2  # a cycle must not hang the check
        seen: list[_Node] = []
        node, prev = self._head.next, self._head
        while node is not self._tail and len(seen) <= limit:
            if node is None:
                found.append("the forward chain ends before the tail sentinel")
                break
            if node.prev is not prev:
                found.append(f"entry {node.key!r}: prev does not point back at its predecessor")
            seen.append(node)
            prev, node = node, node.next
        if len(seen) > limit:
            found.append("the list has a cycle: walking forward never reaches the tail")
        ids = {id(n) for n in seen}
        if len(ids) != len(seen):
            found.append("an entry appears twice in the list")
        listed = {id(n) for n in seen}
        mapped = set(map(id, self._map.values()))
        if mapped - listed:
            found.append(f"{len(mapped - listed)} cached entries are not in the list "
                         "(never evictable: the cache grows past capacity)")
        if listed - mapped:
            found.append(f"{len(listed - mapped)} list entries are not in the map")
        if len(self._map) > self.capacity:
            found.append(f"{len(self._map)} entries in a cache of capacity {self.capacity}")
        return found

    def __repr__(self) -> str:
        return f"{type(self).__name__}(capacity={self.capacity}, size={len(self._map)})"


class ThreadSafeLRU:
    """Any of the LRUs above behind one lock: every operation is atomic, statistics exact.

    A plain ``threading.Lock`` is right here: each operation is a few microseconds of pure
    Python, so contention is short, and nothing inside calls back into the cache.
    """

    __slots__ = ("_cache", "_lock")

    def __init__(self, capacity: int, *, impl: type = OrderedDictLRU):
        self._cache = impl(capacity)
        self._lock = threading.Lock()

    @property
    def capacity(self) -> int:
        return self._cache.capacity

    def get(self, key: Hashable, default: Any = None) -> Any:
        """The cached value (now most recent), or ``default``."""
        with self._lock:
            return self._cache.get(key, default)

    def __getitem__(self, key: Hashable) -> Any:
        with self._lock:
            return self._cache[key]

    def put(self, key: Hashable, value: Any) -> None:
        """Store ``value`` as the most recent entry."""
        with self._lock:
            self._cache.put(key, value)

    __setitem__ = put

    def delete(self, key: Hashable) -> bool:
        """Remove ``key``; True if it was cached."""
        with self._lock:
            return self._cache.delete(key)

    def __contains__(self, key: Hashable) -> bool:
        with self._lock:
            return key in self._cache

    def __len__(self) -> int:
        with self._lock:
            return len(self._cache)

    def keys(self) -> list:
        """Keys from least to most recently used (a snapshot)."""
        with self._lock:
            return self._cache.keys()

    def clear(self) -> None:
        """Drop every entry and zero the statistics."""
        with self._lock:
            self._cache.clear()

    def cache_info(self) -> CacheInfo:
        """A consistent snapshot of the statistics."""
        with self._lock:
            return self._cache.cache_info()

    def problems(self) -> list[str]:
        """The inner cache's broken invariants, checked under the lock."""
        with self._lock:
            check = getattr(self._cache, "problems", None)
            return check() if check else []

    def __repr__(self) -> str:
        return f"ThreadSafeLRU({self._cache!r})"


def race(cache, *, threads: int = 4, ops: int = 20_000, keys: int = 64, seed: int = 0,
         switch_interval: float = 1e-6) -> dict:
    """Hammer ``cache`` from ``threads`` threads doing get-or-put, and report what broke.

    Python switches threads every 5 ms by default, so a race inside a few-microsecond
    ``get`` shows up only now and then. Shrinking the switch interval to ``switch_interval``
    makes the same interleavings happen within milliseconds: nothing is slowed down or faked,
    the scheduler just preempts more often (and free-threaded Python preempts always).

    Returns exceptions by type, ``lost_updates`` (lookups done but missing from hits+misses),
    the structure's broken invariants, and its final size.
    """
    import random
    import sys
    from collections import Counter

    errors: Counter = Counter()
    completed = [0] * threads  # lookups that returned (a get that raised counts nothing)
    before = cache.cache_info()

    def worker(i: int) -> None:
        rnd = random.Random(seed + i)
        for _ in range(ops):
            k = rnd.randrange(keys)
            try:
                value = cache.get(k, MISSING)
            except Exception as exc:  # the race, not the test: record it and carry on
                errors[type(exc).__name__] += 1
                continue
            completed[i] += 1
            if value is MISSING:
                try:
                    cache.put(k, k)
                except Exception as exc:
                    errors[type(exc).__name__] += 1

    pool = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    old = sys.getswitchinterval()
    sys.setswitchinterval(switch_interval)
    try:
        for t in pool:
            t.start()
        for t in pool:
            t.join()
    finally:
        sys.setswitchinterval(old)
    info = cache.cache_info()
    counted = (info.hits + info.misses) - (before.hits + before.misses)
    check = getattr(cache, "problems", None)
    return {"errors": dict(errors), "lookups": sum(completed), "counted": counted,
            "lost_updates": sum(completed) - counted,
            "problems": check() if check else [], "size": len(cache),
            "capacity": cache.capacity}
