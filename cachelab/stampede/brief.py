"""The brief's two stampede defences, translated faithfully, to show their failures live.

``BriefLock``: DEL without a token, no re-check of the cache after winning, one stack frame
per wait, a fixed sleep. ``BriefProbabilistic``: an exponential refresh rule on 20 % of the TTL
(not XFetch), reading the TTL in whole seconds, one new thread per refresh.
"""

from __future__ import annotations

import math
import random
import time
from typing import Any

from .defences import Defence, _ms, _positive

__all__ = ["BriefLock", "BriefProbabilistic", "brief_refresh_probability"]


class BriefLock(Defence):
    """The brief's lock, translated faithfully: DEL without a token, no re-check, recursion.

    Kept to show its failures live. ``lock_ttl`` (the brief's ``ex=10``) and ``wait`` (its
    fixed ``time.sleep(0.1)``) are parameters only so the notebook can shrink them.
    """

    name = "brief-lock"

    def __init__(self, r, compute, ttl, *, lock_ttl: float = 10.0, wait: float = 0.1):
        super().__init__(r, compute, ttl, lock_ttl=lock_ttl)
        self.wait = wait

    def get(self, key: str, _depth: int = 0) -> tuple[Any, str]:
        cached = self.r.get(key)
        if cached:
            return self._value(cached), "waited" if _depth else "hit"
        lock_key = f"{key}:lock"
        if self.r.set(lock_key, "1", nx=True, px=_ms(self.lock_ttl)):
            try:
                return self._recompute(key)[0], "miss"   # no re-check of the cache first
            finally:
                self.r.delete(lock_key)                  # may delete someone else's lock
        time.sleep(self.wait)                            # fixed: every waiter wakes together
        self.stats.incr("waits")
        cached = self.r.get(key)
        if cached:
            return self._value(cached), "waited"
        return self.get(key, _depth + 1)                 # one stack frame per wait


def brief_refresh_probability(remaining: float, ttl: float, beta: float = 1.0) -> float:
    """The brief's rule: ``beta * exp(-remaining / delta)`` once ``remaining < delta = 0.2 * ttl``."""
    delta = ttl * 0.2
    return beta * math.exp(-remaining / delta) if remaining < delta else 0.0


class BriefProbabilistic(Defence):
    """The brief's "probabilistic expiration", as written (it is not XFetch).

    It reads the key's TTL in whole seconds, takes delta = 20% of the TTL (not the recompute
    time), and starts a new thread for every read that wins the draw.
    """

    name = "brief-probabilistic"

    def __init__(self, r, compute, ttl, *, beta: float = 1.0, rng: random.Random | None = None):
        super().__init__(r, compute, ttl)
        self.beta = _positive("beta", beta)
        self.rng = rng or random.Random()

    def get(self, key: str) -> tuple[Any, str]:
        cached = self.r.get(key)
        if cached:
            remaining = self.r.ttl(key)  # whole seconds, as in the brief
            if self.rng.random() < brief_refresh_probability(remaining, self.ttl, self.beta):
                self.stats.incr("early")
                self._background(lambda: self._recompute(key), "brief-refresh")
            return self._value(cached), "hit"
        return self._recompute(key)[0], "miss"
