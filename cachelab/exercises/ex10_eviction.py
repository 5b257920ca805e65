"""Self-checks for notebook 10 (eviction policies)."""

from __future__ import annotations

import random
from collections import OrderedDict

from ..eviction import CLOCK, LRU, Policy, zipf
from ..selfcheck import expect, run_check

__all__ = ["ClockBase", "check_1", "check_2", "CHECKS", "check"]


class ClockBase(Policy):
    """CLOCK without ``access``: ``self.ring`` is an OrderedDict key -> reference bit (0/1),
    front = the key under the hand (oldest), back = newest."""

    name = "my CLOCK"

    def __init__(self, capacity: int):
        super().__init__(capacity)
        self.ring: OrderedDict = OrderedDict()

    def __len__(self) -> int:
        return len(self.ring)

    def __contains__(self, key) -> bool:
        return key in self.ring


def _traces(seed: int = 5):
    rnd = random.Random(seed)
    for trial in range(60):
        capacity = rnd.randint(1, 6)
        trace = [rnd.randrange(12) for _ in range(rnd.randint(1, 80))]
        yield trial, capacity, trace
    yield 60, 50, zipf(3_000, 400, 0.9, seed=seed)


def check_1(cls) -> str:
    """Exercise 1: CLOCK's access(), request by request against cachelab's CLOCK."""
    expect(isinstance(cls, type) and issubclass(cls, ClockBase),
           "pass your class (a subclass of ClockBase), not an instance")
    for trial, capacity, trace in _traces():
        mine, ref = cls(capacity), CLOCK(capacity)
        for i, key in enumerate(trace):
            got, want = mine.access(key), ref.access(key)
            expect(isinstance(got, bool), f"access() must return True or False, not {got!r}")
            expect(got == want,
                   f"trial {trial} (capacity {capacity}), request {i} for key {key}: you said "
                   f"{'hit' if got else 'miss'}, CLOCK says {'hit' if want else 'miss'}. "
                   "On a miss with a full ring, pop from the front: a key with its bit set gets "
                   "the bit cleared and goes to the back; the first key with bit 0 is evicted.")
            expect(len(mine.ring) <= capacity,
                   f"the ring holds {len(mine.ring)} keys with capacity {capacity}")
    return "identical to CLOCK on 61 traces, request by request"


def check_2(lru_curve) -> str:
    """Exercise 2: every LRU size's hit count from one pass (stack distances)."""
    for trial, _, trace in _traces(seed=11):
        sizes = [1, 2, 3, 5, 8, 40]
        got = lru_curve(trace, sizes)
        expect(isinstance(got, dict) and set(got) == set(sizes),
               f"return a dict {{size: hits}} for every size asked, got {got!r:.80}")
        for size in sizes:
            want = LRU(size).run(trace)
            expect(got[size] == want,
                   f"trial {trial}: for an LRU of {size} you counted {got[size]} hits, an LRU "
                   f"simulation counts {want}. A request hits in an LRU of size C exactly when "
                   "fewer than C *distinct* other keys were requested since its key's last request.")
    return "one pass gives the exact LRU hit count at every size"


CHECKS = {1: check_1, 2: check_2}


def check(n: int, answer) -> bool:
    """Run exercise ``n``'s self-check on ``answer`` and show the verdict."""
    return run_check(CHECKS[n], answer)
