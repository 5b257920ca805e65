"""Scan-resistant policies with ghost lists: ARC and S3-FIFO."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable

from .policies import Policy

__all__ = ["ARC", "S3FIFO"]


class ARC(Policy):
    """Adaptive Replacement Cache (Megiddo & Modha, FAST 2003), as in the paper's Figure 4.

    T1 holds keys seen once recently, T2 keys seen at least twice; B1 and B2 remember keys
    recently evicted from each (keys only, no data). A hit in a ghost list says which side
    evicted too early, and moves the target size ``p`` of T1 towards it. ``p`` and its step
    are real numbers (the paper's δ = |B2|/|B1| is a ratio); libCacheSim does the same since it
    switched from integers, which moved its hit ratios by up to a quarter of a point;
    ``integer_step=True`` brings the integer version back to show that.
    """

    name = "ARC"

    def __init__(self, capacity: int, *, integer_step: bool = False):
        super().__init__(capacity)
        self.integer_step = integer_step
        # OrderedDicts as LRU lists: front = least recent.
        self.t1: OrderedDict = OrderedDict()
        self.t2: OrderedDict = OrderedDict()
        self.b1: OrderedDict = OrderedDict()
        self.b2: OrderedDict = OrderedDict()
        self.p = 0.0

    def _replace(self, in_b2: bool) -> None:
        """Evict T1's or T2's LRU key into its ghost list, steered by ``p``."""
        t1 = self.t1
        # An empty T2 leaves nothing else to evict (only possible while p has grown to c).
        if (t1 and (len(t1) > self.p or (in_b2 and len(t1) == self.p))) or not self.t2:
            key, _ = t1.popitem(last=False)
            self.b1[key] = None
        else:
            key, _ = self.t2.popitem(last=False)
            self.b2[key] = None

    def access(self, key: Hashable) -> bool:
        t1, t2, b1, b2, c = self.t1, self.t2, self.b1, self.b2, self.capacity
        if key in t1:  # case I: second hit promotes to the frequency side
            del t1[key]
            t2[key] = None
            return True
        if key in t2:
            t2.move_to_end(key)
            return True
        if key in b1:  # case II: T1 was too small, grow p
            step = len(b2) // len(b1) if self.integer_step else len(b2) / len(b1)
            self.p = min(self.p + max(step, 1), c)
            self._replace(in_b2=False)
            del b1[key]
            t2[key] = None
            return False
        if key in b2:  # case III: T2 was too small, shrink p
            step = len(b1) // len(b2) if self.integer_step else len(b1) / len(b2)
            self.p = max(self.p - max(step, 1), 0)
            self._replace(in_b2=True)
            del b2[key]
            t2[key] = None
            return False
        # case IV: a key in none of the four lists
        if len(t1) + len(t2) >= c:
            if len(t1) + len(b1) >= c:
                if len(t1) < c:
                    b1.popitem(last=False)
                    self._replace(in_b2=False)
                else:  # B1 is empty and T1 fills the cache: drop T1's LRU outright
                    t1.popitem(last=False)
            else:
                if len(t1) + len(t2) + len(b1) + len(b2) >= 2 * c:
                    b2.popitem(last=False)
                self._replace(in_b2=False)
        t1[key] = None
        return False

    def __len__(self) -> int:
        return len(self.t1) + len(self.t2)

    def __contains__(self, key: Hashable) -> bool:
        return key in self.t1 or key in self.t2


class S3FIFO(Policy):
    """S3-FIFO (Yang et al., SOSP 2023): a small FIFO, a main FIFO and a ghost FIFO.

    New keys enter the small queue (10%). When it is evicted from, a key hit at least
    ``move_to_main`` times while there goes to main; the others leave, remembered in the
    ghost queue, and come back straight into main if requested soon. Main is a FIFO with
    reinsertion (a CLOCK whose counter saturates at 3). Defaults and two details follow
    libCacheSim's ``S3FIFO.c``: the threshold is 2 hits, and before the first eviction a new
    key goes to main once small is full.
    """

    name = "S3-FIFO"

    def __init__(self, capacity: int, *, small_ratio: float = 0.10, ghost_ratio: float = 0.90,
                 move_to_main: int = 2):
        super().__init__(capacity)
        self.small_cap = max(1, int(capacity * small_ratio))
        self.main_cap = capacity - self.small_cap
        self.ghost_cap = int(capacity * ghost_ratio)
        self.move_to_main = move_to_main
        self.small: OrderedDict = OrderedDict()  # key -> hits while cached; front = oldest
        self.main: OrderedDict = OrderedDict()
        self.ghost: OrderedDict = OrderedDict()  # keys only
        self._evicted_once = False

    def access(self, key: Hashable) -> bool:
        small, main, ghost = self.small, self.main, self.ghost
        if key in small:
            small[key] += 1
            return True
        in_ghost = ghost.pop(key, False) is None
        if key in main:
            main[key] += 1
            return True
        while len(small) + len(main) >= self.capacity:
            self._evict()
        if in_ghost or (not self._evicted_once and len(small) >= self.small_cap):
            main[key] = 0
        else:
            small[key] = 0
        return False

    def _evict(self) -> None:
        self._evicted_once = True
        small, main = self.small, self.main
        if len(main) > self.main_cap or not small:
            while main:  # main: FIFO with reinsertion, counter capped at 3
                key, freq = main.popitem(last=False)
                if freq <= 0:
                    return
                main[key] = min(freq, 3) - 1
        else:
            while small:
                key, freq = small.popitem(last=False)
                if freq >= self.move_to_main:
                    main[key] = 0
                    continue
                if self.ghost_cap > 0 and key not in self.ghost:
                    self.ghost[key] = None
                    if len(self.ghost) > self.ghost_cap:
                        self.ghost.popitem(last=False)
                return

    def __len__(self) -> int:
        return len(self.small) + len(self.main)

    def __contains__(self, key: Hashable) -> bool:
        return key in self.small or key in self.main
