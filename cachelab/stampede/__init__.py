"""Cache stampedes and seven defences against them (notebook 08).

``defences`` holds the strategies, ``brief`` the brief's two versions (kept to compare),
``lock`` the Redis lock they share, ``registry`` all of them by name, ``experiment`` the
hot-key workload that the notebook, the tests and the benchmarks run, ``peers`` the same
workload through dogpile.cache and cashews.
"""

from .brief import BriefLock, BriefProbabilistic, brief_refresh_probability
from .defences import (
    CoalescedLock,
    Defence,
    LockDefence,
    NoProtection,
    RefreshAhead,
    SingleFlightDefence,
    StaleWhileRevalidate,
    XFetch,
    xfetch_should_recompute,
)
from .experiment import (
    HOT_SQL,
    DefenceFactory,
    StampedeRun,
    bursts,
    hot_key,
    run_peer,
    run_stampede,
    summarize,
    table,
    top_customers,
    xfetch_claimed_range,
    xfetch_expected_recomputes,
)
from .lock import LockTimeout, RedisLock, backoff
from .registry import DEFENCES, make_defence

__all__ = [
    "DEFENCES", "HOT_SQL", "BriefLock", "BriefProbabilistic", "CoalescedLock", "Defence", "DefenceFactory",
    "LockDefence", "LockTimeout", "NoProtection", "RedisLock", "RefreshAhead",
    "SingleFlightDefence", "StaleWhileRevalidate", "StampedeRun", "XFetch", "backoff",
    "brief_refresh_probability", "bursts", "hot_key", "make_defence", "run_peer", "run_stampede",
    "summarize", "table", "top_customers", "xfetch_claimed_range", "xfetch_expected_recomputes", "xfetch_should_recompute",
]
