"""Belady's optimal policy (MIN): evict the key whose next request is furthest away.

It needs the future, so no real cache can run it; it is the upper bound every online
policy is measured against.
"""

from __future__ import annotations

import heapq
from collections.abc import Hashable

import numpy as np

from .policies import Policy

__all__ = ["Belady", "next_use"]


def next_use(trace: list) -> list[int]:
    """For each position, the position of the same key's next request.

    Keys never requested again get ``len(trace) + position``: beyond every real position,
    and all different, so the heap below never has to compare two keys.
    """
    n = len(trace)
    try:
        arr = np.asarray(trace, dtype=np.int64)
    except (TypeError, ValueError, OverflowError):  # not integers: number the keys first
        ids: dict = {}
        arr = np.fromiter((ids.setdefault(k, len(ids)) for k in trace), dtype=np.int64, count=n)
    nxt = np.arange(n, 2 * n, dtype=np.int64)
    order = np.argsort(arr, kind="stable")  # positions grouped by key, in time order
    same = arr[order[1:]] == arr[order[:-1]]
    nxt[order[:-1][same]] = order[1:][same]
    return nxt.tolist()


class Belady(Policy):
    """Belady's MIN: on a miss with a full cache, evict the key needed furthest in the future.

    With ``bypass=True`` (the default) a missed key that is itself needed later than every
    cached key is not admitted at all: the optimum for caches that may decline to store
    something, and so an upper bound for W-TinyLFU's admission filter too. ``bypass=False``
    is the paging textbook's MIN (every miss is loaded), which is what libCacheSim's
    ``Belady`` computes. A max-heap of next-use positions with lazy deletion keeps each
    request O(log n).
    """

    name = "Belady"

    def __init__(self, capacity: int, *, bypass: bool = True):
        super().__init__(capacity)
        self.bypass = bypass
        self._next: list[int] = []
        self._pos = 0
        self._due: dict = {}  # resident key -> position of its next request
        self._heap: list[tuple[int, Hashable]] = []

    def prepare(self, trace: list) -> None:
        self._next = next_use(trace)
        self._pos = 0
        self._due.clear()
        self._heap.clear()

    def access(self, key: Hashable) -> bool:
        if self._pos >= len(self._next):
            raise RuntimeError("Belady needs the trace in advance: call run(trace) or "
                               "prepare(trace) before access()")
        due = self._next[self._pos]
        self._pos += 1
        resident, heap = self._due, self._heap
        if key in resident:
            resident[key] = due
            heapq.heappush(heap, (-due, key))
            return True
        if len(resident) >= self.capacity:
            while resident.get(heap[0][1]) != -heap[0][0]:
                heapq.heappop(heap)  # stale: that key was requested again since, or evicted
            if self.bypass and due > -heap[0][0]:
                return False  # the newcomer is the one needed last: do not store it
            victim = heapq.heappop(heap)[1]
            del resident[victim]
        resident[key] = due
        heapq.heappush(heap, (-due, key))
        return False

    def __len__(self) -> int:
        return len(self._due)

    def __contains__(self, key: Hashable) -> bool:
        return key in self._due
