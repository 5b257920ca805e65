"""W-TinyLFU (Einziger, Friedman & Manes, 2017), the policy behind Caffeine.

A small LRU window takes every new key; the main space is a segmented LRU. A key leaving
the window is admitted to main only if a frequency sketch says it is requested more often
than the key main would evict. The sketch counts every request in 4-bit counters and
halves them all periodically, so old popularity fades.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable

from .. import checks
from .policies import Policy

__all__ = ["FrequencySketch", "WTinyLFU"]

_MASK64 = (1 << 64) - 1
# Odd 64-bit multipliers (from splitmix64 / Caffeine's seeds): one independent-ish hash per row.
_SEEDS = (0x97CB3127, 0xDE2C5B05, 0x9E3779B97F4A7C15, 0xBF58476D1CE4E5B9)


class FrequencySketch:
    """A count-min sketch: 4 rows of small counters, periodically halved ("aging").

    ``counter_max`` 15 is Caffeine's 4-bit counter; ``sample_factor`` × capacity requests
    between halvings (Caffeine: 10). ``sample_factor=None`` never ages: old popularity then
    never fades, which is the main reason libCacheSim's W-TinyLFU scores lower on these traces.
    """

    def __init__(self, capacity: int, *, sample_factor: int | None = 10, counter_max: int = 15):
        if not 1 <= counter_max <= 255:
            raise ValueError("counter_max must be within 1..255 (one byte per counter)")
        width = 1
        while width < max(capacity, 16):
            width <<= 1
        self.width = width
        self._shift = 64 - width.bit_length() + 1
        self.rows = [bytearray(width) for _ in _SEEDS]
        self.counter_max = counter_max
        self.sample_size = sample_factor * max(capacity, 1) if sample_factor else None
        self.additions = 0
        self.resets = 0

    def _slots(self, key: Hashable) -> tuple[int, int, int, int]:
        h = (hash(key) * 0x9E3779B97F4A7C15) & _MASK64
        h ^= h >> 31
        s, (a, b, c, d) = self._shift, _SEEDS
        return ((h * a) & _MASK64) >> s, ((h * b) & _MASK64) >> s, \
            ((h * c) & _MASK64) >> s, ((h * d) & _MASK64) >> s

    def frequency(self, key: Hashable) -> int:
        """Estimated recent requests of ``key`` (never below the truth, capped at ``counter_max``)."""
        i, j, k, m = self._slots(key)
        r0, r1, r2, r3 = self.rows
        return min(r0[i], r1[j], r2[k], r3[m])

    def increment(self, key: Hashable) -> None:
        """Count one request of ``key`` (conservative update: only the minimum counters grow)."""
        i, j, k, m = self._slots(key)
        r0, r1, r2, r3 = self.rows
        a, b, c, d = r0[i], r1[j], r2[k], r3[m]
        low = min(a, b, c, d)
        if low < self.counter_max:
            up = low + 1
            if a == low:
                r0[i] = up
            if b == low:
                r1[j] = up
            if c == low:
                r2[k] = up
            if d == low:
                r3[m] = up
        self.additions += 1
        if self.sample_size is not None and self.additions >= self.sample_size:
            self._age()

    def _age(self) -> None:
        # Halve every counter: a bytes.translate table does a whole row in C.
        for row in self.rows:
            row[:] = row.translate(_HALVE)
        self.additions //= 2
        self.resets += 1


_HALVE = bytes(i >> 1 for i in range(256))


class WTinyLFU(Policy):
    """Window LRU (``window`` of the capacity) + TinyLFU admission + SLRU main (20% probation)."""

    name = "W-TinyLFU"

    def __init__(self, capacity: int, *, window: float = 0.01, protected: float = 0.80,
                 sample_factor: int | None = 10, counter_max: int = 15):
        super().__init__(capacity)
        checks.fraction("window", window, hint=" (the share of capacity in the window LRU)")
        checks.fraction("protected", protected, low_open=True)
        self.window_cap = max(1, round(capacity * window)) if capacity > 1 else 0
        main = capacity - self.window_cap
        self.protected_cap = max(0, int(main * protected))
        self.main_cap = main
        self.window: OrderedDict = OrderedDict()
        self.probation: OrderedDict = OrderedDict()
        self.protected: OrderedDict = OrderedDict()
        self.sketch = FrequencySketch(capacity, sample_factor=sample_factor,
                                      counter_max=counter_max)
        self.admitted = self.rejected = 0

    def access(self, key: Hashable) -> bool:
        self.sketch.increment(key)
        window, probation, protected = self.window, self.probation, self.protected
        if key in window:
            window.move_to_end(key)
            return True
        if key in protected:
            protected.move_to_end(key)
            return True
        if key in probation:  # second chance earned: promote, demote protected's LRU if over
            del probation[key]
            protected[key] = None
            if len(protected) > self.protected_cap:
                demoted, _ = protected.popitem(last=False)
                probation[demoted] = None
            return True
        if self.window_cap == 0:
            self._offer(key)
            return False
        window[key] = None
        if len(window) > self.window_cap:
            candidate, _ = window.popitem(last=False)
            self._offer(candidate)
        return False

    def _offer(self, candidate: Hashable) -> None:
        """A key leaving the window asks to enter main; TinyLFU decides."""
        probation, protected = self.probation, self.protected
        if len(probation) + len(protected) < self.main_cap:
            probation[candidate] = None
            return
        victims = probation if probation else protected
        victim = next(iter(victims))
        if self.sketch.frequency(candidate) > self.sketch.frequency(victim):
            del victims[victim]
            probation[candidate] = None
            self.admitted += 1
        else:
            self.rejected += 1

    def __len__(self) -> int:
        return len(self.window) + len(self.probation) + len(self.protected)

    def __contains__(self, key: Hashable) -> bool:
        return key in self.window or key in self.probation or key in self.protected
