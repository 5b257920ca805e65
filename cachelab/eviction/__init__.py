"""Eviction policies on one simulator interface, real traces, and the references they are checked against.

``policies`` (FIFO, LRU, LFU, CLOCK, SIEVE), ``adaptive`` (ARC, S3-FIFO), ``tinylfu`` (W-TinyLFU),
``offline`` (Belady's optimum), ``sampled`` (Redis's approximated LRU), ``simulate`` (runs and
curves), ``traces`` (workloads), ``reference`` (libCacheSim) and ``redis_replay`` (a live Redis).
"""

from .adaptive import ARC, S3FIFO
from .offline import Belady
from .policies import CLOCK, FIFO, LFU, LRU, SIEVE, Policy
from .sampled import SampledLRU
from .simulate import POLICIES, Result, curves, make, simulate, speed
from .tinylfu import WTinyLFU
from .traces import load_trace, scan_polluted, zipf

__all__ = [
    "ARC", "Belady", "CLOCK", "FIFO", "LFU", "LRU", "POLICIES", "Policy", "Result", "S3FIFO",
    "SIEVE", "SampledLRU", "WTinyLFU", "curves", "load_trace", "make", "scan_polluted",
    "simulate", "speed", "zipf",
]
