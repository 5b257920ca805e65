"""Thread-safe counters and a latency recorder with percentiles."""

from __future__ import annotations

import math
import threading
import time
from collections import Counter
from contextlib import contextmanager

__all__ = ["Counters", "LatencyRecorder", "Metrics", "percentile"]


def percentile(values, p: float) -> float:
    """The ``p``-th percentile (0-100) by linear interpolation; NaN for no values."""
    if not 0 <= p <= 100:
        raise ValueError(f"percentile must be within 0..100, got {p}")
    data = sorted(values)
    if not data:
        return math.nan
    pos = (len(data) - 1) * p / 100
    lo = math.floor(pos)
    hi = min(lo + 1, len(data) - 1)
    return data[lo] + (data[hi] - data[lo]) * (pos - lo)


class Counters:
    """Named counters safe to bump from many threads."""

    def __init__(self):
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()

    def incr(self, name: str, n: int = 1) -> None:
        """Add ``n`` to counter ``name``."""
        with self._lock:
            self._counts[name] += n

    def __getitem__(self, name: str) -> int:
        with self._lock:
            return self._counts[name]

    def snapshot(self) -> dict[str, int]:
        """A consistent copy of all counters."""
        with self._lock:
            return dict(self._counts)

    def reset(self) -> None:
        """Set every counter back to zero."""
        with self._lock:
            self._counts.clear()

    @property
    def hit_ratio(self) -> float:
        """hits / (hits + misses), NaN before the first lookup."""
        with self._lock:
            hits, misses = self._counts["hits"], self._counts["misses"]
        return hits / (hits + misses) if hits + misses else math.nan

    def __repr__(self) -> str:
        return f"Counters({self.snapshot()})"


class LatencyRecorder:
    """Collects durations in seconds and reports percentiles in milliseconds."""

    def __init__(self):
        self._lock = threading.Lock()
        self._samples: list[float] = []

    def record(self, seconds: float) -> None:
        """Add one duration (seconds)."""
        with self._lock:
            self._samples.append(seconds)

    @contextmanager
    def time(self):
        """Context manager that records how long its body took."""
        start = time.perf_counter()
        try:
            yield
        finally:
            self.record(time.perf_counter() - start)

    @property
    def samples(self) -> list[float]:
        """A copy of the recorded durations (seconds)."""
        with self._lock:
            return list(self._samples)

    def __len__(self) -> int:
        with self._lock:
            return len(self._samples)

    def percentile_ms(self, p: float) -> float:
        """The ``p``-th percentile in milliseconds."""
        return percentile(self.samples, p) * 1000

    def summary(self) -> dict[str, float]:
        """count, mean, p50, p95, p99 and max, in milliseconds."""
        data = sorted(self.samples)
        if not data:
            return {"count": 0, "mean_ms": math.nan, "p50_ms": math.nan, "p95_ms": math.nan,
                    "p99_ms": math.nan, "max_ms": math.nan}
        return {
            "count": len(data),
            "mean_ms": sum(data) / len(data) * 1000,
            "p50_ms": percentile(data, 50) * 1000,
            "p95_ms": percentile(data, 95) * 1000,
            "p99_ms": percentile(data, 99) * 1000,
            "max_ms": data[-1] * 1000,
        }

    def reset(self) -> None:
        """Drop every sample."""
        with self._lock:
            self._samples.clear()


class Metrics:
    """Counters plus one latency recorder per operation name."""

    def __init__(self):
        self.counters = Counters()
        self._lock = threading.Lock()
        self._latency: dict[str, LatencyRecorder] = {}

    def incr(self, name: str, n: int = 1) -> None:
        """Bump counter ``name``."""
        self.counters.incr(name, n)

    def latency(self, op: str) -> LatencyRecorder:
        """The recorder for operation ``op`` (created on first use)."""
        with self._lock:
            return self._latency.setdefault(op, LatencyRecorder())

    @property
    def hit_ratio(self) -> float:
        """hits / (hits + misses)."""
        return self.counters.hit_ratio

    def snapshot(self) -> dict:
        """Counters and latency summaries as one plain dict."""
        with self._lock:
            ops = dict(self._latency)
        out: dict = dict(self.counters.snapshot())
        out["hit_ratio"] = self.hit_ratio
        for op, rec in ops.items():
            for k, v in rec.summary().items():
                out[f"{op}_{k}"] = v
        return out

    def reset(self) -> None:
        """Zero the counters and drop latency samples."""
        self.counters.reset()
        with self._lock:
            for rec in self._latency.values():
                rec.reset()
