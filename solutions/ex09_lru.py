"""Worked answers for notebook 09's exercises (kept out of the notebook on purpose)."""

from cachelab.exercises.ex09_lru import LinkedBase
from cachelab.lru import MISSING


def solution_1(cache, key, load):
    """A private sentinel tells "not cached" from a cached None."""
    value = cache.get(key, MISSING)
    if value is MISSING:
        value = load(key)
        cache.put(key, value)
    return value


class Solution2(LinkedBase):
    def put(self, key, value):
        node = self.map.get(key)
        if node is not None:  # update: new value, and it is now the most recent
            node.value = value
            self.unlink(node)
            self.push_front(node)
            return
        node = self.Node(key, value)
        self.map[key] = node
        self.push_front(node)
        if len(self.map) > self.capacity:
            victim = self.tail.prev
            self.unlink(victim)
            del self.map[victim.key]


# Deliberately wrong answers: the tests make sure each self-check rejects them.
def wrong_1(cache, key, load):
    value = cache.get(key)
    if value is None:  # the brief's test: a cached None looks like a miss, so it reloads
        value = load(key)
        cache.put(key, value)
    return value


class Wrong2(LinkedBase):
    def put(self, key, value):
        node = self.Node(key, value)  # forgets the old node of an updated key
        self.map[key] = node
        self.push_front(node)
        if len(self.map) > self.capacity:
            victim = self.tail.prev
            self.unlink(victim)
            del self.map[victim.key]


SOLUTIONS = {1: solution_1, 2: Solution2}
WRONG = {1: wrong_1, 2: Wrong2}
