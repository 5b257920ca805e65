"""The simulator interface and the classic policies: FIFO, LRU, LFU, CLOCK and SIEVE.

Every policy counts capacity in objects (all objects the same size, as in the ARC paper
and in libCacheSim with ``obj_size=1``). ``access(key)`` returns True on a hit; on a miss
the policy makes room if it is full and admits the key.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Hashable, Iterable

from ..lru import check_capacity

__all__ = ["Policy", "FIFO", "LRU", "LFU", "CLOCK", "SIEVE"]


class Policy:
    """A cache of ``capacity`` equal-sized objects that decides what to evict."""

    name = "policy"

    def __init__(self, capacity: int):
        self.capacity = check_capacity(capacity)

    def access(self, key: Hashable) -> bool:
        """Request ``key``: True on a hit; on a miss, evict if full and admit ``key``."""
        raise NotImplementedError

    def prepare(self, trace: list) -> None:
        """Look at the whole trace before the run (only offline policies such as Belady need it)."""

    def run(self, trace: Iterable[Hashable]) -> int:
        """Replay ``trace`` and return the number of hits."""
        trace = trace if isinstance(trace, list) else list(trace)
        self.prepare(trace)
        # sum(map(...)) keeps the per-request loop in C: only access() itself is Python.
        return sum(map(self.access, trace))

    def __len__(self) -> int:
        raise NotImplementedError

    def __contains__(self, key: Hashable) -> bool:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{self.name}(capacity={self.capacity})"


class FIFO(Policy):
    """First in, first out: a hit changes nothing; evict the oldest insertion."""

    name = "FIFO"

    def __init__(self, capacity: int):
        super().__init__(capacity)
        self._queue: deque = deque()
        self._resident: set = set()

    def access(self, key: Hashable) -> bool:
        resident = self._resident
        if key in resident:
            return True
        if len(resident) >= self.capacity:
            resident.remove(self._queue.popleft())
        resident.add(key)
        self._queue.append(key)
        return False

    def __len__(self) -> int:
        return len(self._resident)

    def __contains__(self, key: Hashable) -> bool:
        return key in self._resident


class LRU(Policy):
    """Least recently used: a hit moves the key to the back; evict from the front."""

    name = "LRU"

    def __init__(self, capacity: int):
        super().__init__(capacity)
        self._order: OrderedDict = OrderedDict()

    def access(self, key: Hashable) -> bool:
        order = self._order
        if key in order:
            order.move_to_end(key)
            return True
        if len(order) >= self.capacity:
            order.popitem(last=False)
        order[key] = None
        return False

    def run(self, trace: Iterable[Hashable]) -> int:
        """The fast path: the same logic inlined in one loop, with methods bound once."""
        order: OrderedDict = self._order
        move, evict = order.move_to_end, order.popitem
        capacity, hits = self.capacity, 0
        for key in trace:
            if key in order:
                move(key)
                hits += 1
            else:
                if len(order) >= capacity:
                    evict(False)
                order[key] = None
        return hits

    def __len__(self) -> int:
        return len(self._order)

    def __contains__(self, key: Hashable) -> bool:
        return key in self._order


class LFU(Policy):
    """Least frequently used, counting hits while cached; ties go to the longest-waiting key.

    O(1) per request with one bucket of keys per frequency (the layout libCacheSim uses):
    the victim is the front of the lowest non-empty bucket.
    """

    name = "LFU"

    def __init__(self, capacity: int):
        super().__init__(capacity)
        self._freq: dict = {}
        self._buckets: dict[int, OrderedDict] = {}
        self._min = 0

    def access(self, key: Hashable) -> bool:
        freq, buckets = self._freq, self._buckets
        f = freq.get(key)
        if f is not None:
            bucket = buckets[f]
            del bucket[key]
            if not bucket:
                del buckets[f]
                if self._min == f:
                    self._min = f + 1
            freq[key] = f + 1
            nxt = buckets.get(f + 1)
            if nxt is None:
                nxt = buckets[f + 1] = OrderedDict()
            nxt[key] = None
            return True
        if len(freq) >= self.capacity:
            bucket = buckets[self._min]
            victim, _ = bucket.popitem(last=False)
            if not bucket:
                del buckets[self._min]
            del freq[victim]
        freq[key] = 1
        ones = buckets.get(1)
        if ones is None:
            ones = buckets[1] = OrderedDict()
        ones[key] = None
        self._min = 1
        return False

    def __len__(self) -> int:
        return len(self._freq)

    def __contains__(self, key: Hashable) -> bool:
        return key in self._freq


class CLOCK(Policy):
    """CLOCK (second chance): a hit sets a reference bit; eviction gives set bits a second lap.

    Written as FIFO with reinsertion, which is the same algorithm as a hand sweeping a ring:
    the key at the front with its bit set is cleared and sent to the back.
    """

    name = "CLOCK"

    def __init__(self, capacity: int):
        super().__init__(capacity)
        self._ring: OrderedDict = OrderedDict()  # key -> reference bit, front = under the hand

    def access(self, key: Hashable) -> bool:
        ring = self._ring
        if key in ring:
            ring[key] = 1  # assignment to an existing key keeps its position
            return True
        if len(ring) >= self.capacity:
            while True:
                victim, bit = ring.popitem(last=False)
                if not bit:
                    break
                ring[victim] = 0  # second chance: back of the queue, bit cleared
        ring[key] = 0
        return False

    def __len__(self) -> int:
        return len(self._ring)

    def __contains__(self, key: Hashable) -> bool:
        return key in self._ring


class _SieveNode:
    __slots__ = ("key", "visited", "newer", "older")

    def __init__(self, key):
        self.key = key
        self.visited = False
        self.newer: _SieveNode | None = None
        self.older: _SieveNode | None = None


class SIEVE(Policy):
    """SIEVE (Zhang et al., NSDI 2024): FIFO order, a visited bit, and a hand that stays put.

    Unlike CLOCK, survivors are not moved to the back: the hand walks from old to new,
    clearing visited bits, evicts the first unvisited key and remembers where it stopped.
    New keys go in at the new end, so they wait a full lap before the hand reaches them.
    """

    name = "SIEVE"

    def __init__(self, capacity: int):
        super().__init__(capacity)
        self._nodes: dict = {}
        self._newest: _SieveNode | None = None
        self._oldest: _SieveNode | None = None
        self._hand: _SieveNode | None = None

    def access(self, key: Hashable) -> bool:
        node = self._nodes.get(key)
        if node is not None:
            node.visited = True
            return True
        if len(self._nodes) >= self.capacity:
            self._evict()
        node = _SieveNode(key)
        node.older = self._newest
        if self._newest is not None:
            self._newest.newer = node
        self._newest = node
        if self._oldest is None:
            self._oldest = node
        self._nodes[key] = node
        return False

    def _evict(self) -> None:
        node = self._hand or self._oldest
        while node.visited:
            node.visited = False
            node = node.newer or self._oldest  # past the newest, wrap to the oldest
        self._hand = node.newer
        # unlink the victim
        if node.older is not None:
            node.older.newer = node.newer
        else:
            self._oldest = node.newer
        if node.newer is not None:
            node.newer.older = node.older
        else:
            self._newest = node.older
        del self._nodes[node.key]

    def __len__(self) -> int:
        return len(self._nodes)

    def __contains__(self, key: Hashable) -> bool:
        return key in self._nodes
