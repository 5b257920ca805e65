"""Worked answers for notebook 10's exercises (kept out of the notebook on purpose)."""

from collections import OrderedDict

from cachelab.exercises.ex10_eviction import ClockBase


class Solution1(ClockBase):
    def access(self, key):
        ring = self.ring
        if key in ring:
            ring[key] = 1  # keeps its place in the ring
            return True
        if len(ring) >= self.capacity:
            while True:
                victim, bit = ring.popitem(last=False)
                if not bit:
                    break
                ring[victim] = 0  # second chance: to the back, bit cleared
        ring[key] = 0
        return False


def solution_2(trace, sizes):
    """Mattson's stack algorithm: one pass, the stack distance of every request."""
    stack = OrderedDict()  # keys, least recent first
    hits = dict.fromkeys(sizes, 0)
    for key in trace:
        if key in stack:
            # distinct keys used since this key's last use = keys after it in recency order
            distance = 0
            for other in reversed(stack):
                if other == key:
                    break
                distance += 1
            for size in sizes:
                if distance < size:
                    hits[size] += 1
            stack.move_to_end(key)
        else:
            stack[key] = None
    return hits


# Deliberately wrong answers: the tests make sure each self-check rejects them.
class Wrong1(ClockBase):
    def access(self, key):  # plain FIFO: the reference bit is set but never consulted
        ring = self.ring
        if key in ring:
            ring[key] = 1
            return True
        if len(ring) >= self.capacity:
            ring.popitem(last=False)
        ring[key] = 0
        return False


def wrong_2(trace, sizes):
    """Counts requests, not distinct keys, since the last use."""
    last = {}
    hits = dict.fromkeys(sizes, 0)
    for i, key in enumerate(trace):
        if key in last:
            gap = i - last[key] - 1
            for size in sizes:
                if gap < size:
                    hits[size] += 1
        last[key] = i
    return hits


SOLUTIONS = {1: Solution1, 2: solution_2}
WRONG = {1: Wrong1, 2: wrong_2}
