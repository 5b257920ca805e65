"""Which keys the clients ask for: one hot key, or a Zipf-distributed key set."""

from __future__ import annotations

import bisect
import random
from collections.abc import Callable, Sequence

__all__ = ["HotKey", "Zipf"]


class HotKey:
    """Every request asks for the same key (the stampede case)."""

    def __init__(self, key: str):
        if not isinstance(key, str) or not key:
            raise TypeError(f"HotKey needs a non-empty str key, got {key!r}")
        self.key = key

    def sampler(self, rng: random.Random) -> Callable[[], str]:
        """A function returning the next key to ask for."""
        return lambda: self.key

    def __repr__(self) -> str:
        return f"HotKey({self.key!r})"


class Zipf:
    """Keys drawn with probability proportional to ``1 / rank**s`` (rank 1 is the hottest)."""

    def __init__(self, keys: Sequence[str], s: float = 1.0):
        keys = list(keys)
        if not keys or not all(isinstance(k, str) and k for k in keys):
            raise TypeError("Zipf needs a non-empty list of non-empty str keys")
        if isinstance(s, bool) or not isinstance(s, (int, float)) or not s >= 0:
            raise ValueError(f"Zipf exponent s must be a number >= 0, got {s!r}")
        self.keys, self.s = keys, float(s)
        weights = [1 / rank**self.s for rank in range(1, len(keys) + 1)]
        total, acc, self._cum = sum(weights), 0.0, []
        for w in weights:
            acc += w / total
            self._cum.append(acc)
        self._cum[-1] = 1.0

    def probabilities(self) -> list[float]:
        """Probability of each key, hottest first."""
        return [b - a for a, b in zip([0.0, *self._cum[:-1]], self._cum, strict=True)]

    def sampler(self, rng: random.Random) -> Callable[[], str]:
        """A function returning the next key to ask for."""
        cum, keys = self._cum, self.keys
        return lambda: keys[bisect.bisect_left(cum, rng.random())]

    def __repr__(self) -> str:
        return f"Zipf({len(self.keys)} keys, s={self.s:g})"
