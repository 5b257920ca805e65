"""Run policies over traces: one result, hit-ratio curves, and simulation speed."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass

from .adaptive import ARC, S3FIFO
from .offline import Belady
from .policies import CLOCK, FIFO, LFU, LRU, SIEVE, Policy
from .sampled import SampledLRU
from .tinylfu import WTinyLFU

__all__ = ["POLICIES", "make", "Result", "simulate", "curves", "speed"]

#: Every policy by its display name, in the order the notebook plots them.
POLICIES: dict[str, Callable[[int], Policy]] = {
    "FIFO": FIFO, "LRU": LRU, "LFU": LFU, "CLOCK": CLOCK, "SIEVE": SIEVE, "ARC": ARC,
    "S3-FIFO": S3FIFO, "W-TinyLFU": WTinyLFU, "Belady": Belady,
}


def make(name: str, capacity: int, **kwargs) -> Policy:
    """A fresh policy by name (case-insensitive), e.g. ``make("s3-fifo", 1000)``."""
    if not isinstance(name, str):
        raise TypeError(f"a policy name is a str such as 'LRU', got {type(name).__name__} "
                        f"{name!r}; choose one of {list(POLICIES)} or 'sampled-lru'")
    if name.lower().startswith("sampled-lru"):
        return SampledLRU(capacity, **kwargs)
    for key, cls in POLICIES.items():
        if key.lower() == name.lower():
            return cls(capacity, **kwargs)
    raise ValueError(f"unknown policy {name!r}; choose one of {list(POLICIES)}")


@dataclass
class Result:
    """One policy, one capacity, one trace."""

    policy: str
    capacity: int
    requests: int
    hits: int
    seconds: float

    @property
    def hit_ratio(self) -> float:
        return self.hits / self.requests if self.requests else 0.0

    @property
    def requests_per_s(self) -> float:
        return self.requests / self.seconds if self.seconds > 0 else float("inf")

    def as_dict(self) -> dict:
        return {**asdict(self), "hit_ratio": self.hit_ratio}


def simulate(policy: Policy | str, trace: list, capacity: int | None = None) -> Result:
    """Replay ``trace`` through ``policy`` (an instance, or a name plus ``capacity``)."""
    if isinstance(policy, str):
        if capacity is None:
            raise ValueError("give a capacity with a policy name")
        policy = make(policy, capacity)
    start = time.perf_counter()
    hits = policy.run(trace)
    seconds = time.perf_counter() - start
    return Result(policy.name, policy.capacity, len(trace), hits, seconds)


def curves(trace: list, sizes: Sequence[int], policies: Iterable[str] = POLICIES,
           progress=None) -> dict[str, list[float]]:
    """Hit ratio per policy at every cache size: ``{policy: [ratio at sizes[0], ...]}``."""
    policies = list(policies)
    jobs = [(p, s) for p in policies for s in sizes]
    if progress is not None:
        jobs = progress(jobs, desc="simulating", leave=False)
    out: dict[str, list[float]] = {p: [] for p in policies}
    for name, size in jobs:
        out[name].append(simulate(name, trace, size).hit_ratio)
    return out


def speed(trace: list, capacity: int, *, repeats: int = 3) -> dict[str, float]:
    """Requests per second of the LRU simulator: the generic ``access`` loop and the fast path.

    The best of ``repeats`` runs each (the machine is shared: the best run is the least disturbed).
    """
    def best(run: Callable[[LRU], int]) -> float:
        times = []
        for _ in range(repeats):
            policy = LRU(capacity)
            start = time.perf_counter()
            run(policy)
            times.append(time.perf_counter() - start)
        return len(trace) / min(times)

    return {"generic_access": best(lambda p: sum(map(p.access, trace))),
            "fast_path": best(lambda p: p.run(trace))}
