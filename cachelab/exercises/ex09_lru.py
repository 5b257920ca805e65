"""Self-checks for notebook 09 (LRU from scratch)."""

from __future__ import annotations

import random

from ..lru import MISSING, OrderedDictLRU, _Node
from ..selfcheck import expect, run_check

__all__ = ["LinkedBase", "check_1", "check_2", "CHECKS", "check"]


def check_1(get_or_load) -> str:
    """Exercise 1: get_or_load(cache, key, load) caches every answer, None included."""
    calls: list = []

    def load(key):
        calls.append(key)
        return None if key.startswith("ghost") else key.upper()

    cache = OrderedDictLRU(2)
    for _ in range(3):
        value = get_or_load(cache, "ghost:1", load)
        expect(value is None, f"the loader returns None for 'ghost:1'; you returned {value!r}")
    expect(calls.count("ghost:1") == 1,
           f"the loader ran {calls.count('ghost:1')} times for a key whose answer is None: a "
           "cached None must count as a hit (use cache.get(key, MISSING) and `is MISSING`)")
    expect(get_or_load(cache, "a", load) == "A" and get_or_load(cache, "a", load) == "A",
           "get_or_load must return the loader's value, then the cached one")
    expect(calls.count("a") == 1, "the loader ran twice for 'a': store what you loaded")
    get_or_load(cache, "b", load)  # capacity 2: 'ghost:1' is now evicted
    get_or_load(cache, "ghost:1", load)
    expect(calls.count("ghost:1") == 2,
           "after 'ghost:1' was evicted the loader must run again: keep using the LRU, "
           "not a dict of your own")
    return "a cached None is a hit, and the loader runs once per key while it is cached"


class LinkedBase:
    """An LRU on a dict plus a doubly linked list with sentinels, missing only ``put``.

    ``self.map`` maps key -> node; nodes have ``key``, ``value``, ``prev``, ``next``;
    ``self.head.next`` is the most recent node and ``self.tail.prev`` the least recent.
    ``self.unlink(node)`` takes a node out of the list; ``self.push_front(node)`` makes it
    the most recent. ``Node(key, value)`` makes a node.
    """

    Node = _Node

    def __init__(self, capacity: int):
        self.capacity = capacity
        self.map: dict = {}
        self.head, self.tail = _Node(MISSING, MISSING), _Node(MISSING, MISSING)
        self.head.next, self.tail.prev = self.tail, self.head

    def unlink(self, node) -> None:
        node.prev.next = node.next
        node.next.prev = node.prev

    def push_front(self, node) -> None:
        node.prev, node.next = self.head, self.head.next
        self.head.next.prev = node
        self.head.next = node

    def get(self, key, default=None):
        node = self.map.get(key)
        if node is None:
            return default
        self.unlink(node)
        self.push_front(node)
        return node.value

    def put(self, key, value) -> None:
        raise NotImplementedError

    def keys(self) -> list:
        """Least recent first, by walking the list (so a broken list shows up here)."""
        out, node = [], self.tail.prev
        while node is not self.head and len(out) <= len(self.map) + 1:
            out.append(node.key)
            node = node.prev
        return out


def check_2(cls) -> str:
    """Exercise 2: ``put`` for the linked-list LRU, checked against OrderedDictLRU."""
    expect(isinstance(cls, type) and issubclass(cls, LinkedBase),
           "pass your class (a subclass of LinkedBase), not an instance")
    rnd = random.Random(9)
    for trial in range(200):
        capacity = rnd.randint(1, 5)
        mine, model = cls(capacity), OrderedDictLRU(capacity)
        for step in range(40):
            key = rnd.randrange(8)
            if rnd.random() < 0.5:
                value = rnd.randrange(100)
                mine.put(key, value)
                model.put(key, value)
                what = f"put({key}, {value})"
            else:
                got, want = mine.get(key, MISSING), model.get(key, MISSING)
                expect(got == want, f"trial {trial}, step {step}: get({key}) returned {got!r}, "
                       f"an LRU of capacity {capacity} would return {want!r}")
                what = f"get({key})"
            expect(len(mine.map) <= capacity,
                   f"after {what} the map holds {len(mine.map)} keys in a cache of capacity "
                   f"{capacity}: when you evict, delete the key from self.map too")
            expect(mine.keys() == model.keys(),
                   f"after {what} the list order is {mine.keys()}, expected {model.keys()} "
                   "(least recent first): on an update, unlink the old node before pushing "
                   "it to the front, and evict self.tail.prev")
    return "matches an LRU on 200 random operation sequences, list and map in step"


CHECKS = {1: check_1, 2: check_2}


def check(n: int, answer) -> bool:
    """Run exercise ``n``'s self-check on ``answer`` and show the verdict."""
    return run_check(CHECKS[n], answer)
