"""Cache stampedes and seven defences against them (notebook 08).

``defences`` holds the strategies, ``lock`` the Redis lock they share, ``experiment`` the
hot-key workload that the notebook, the tests and the benchmarks run.
"""

from .defences import (
    DEFENCES,
    BriefLock,
    BriefProbabilistic,
    CoalescedLock,
    Defence,
    LockDefence,
    NoProtection,
    RefreshAhead,
    SingleFlightDefence,
    StaleWhileRevalidate,
    XFetch,
    brief_refresh_probability,
    make_defence,
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

__all__ = [
    "DEFENCES", "HOT_SQL", "BriefLock", "BriefProbabilistic", "CoalescedLock", "Defence", "DefenceFactory",
    "LockDefence", "LockTimeout", "NoProtection", "RedisLock", "RefreshAhead",
    "SingleFlightDefence", "StaleWhileRevalidate", "StampedeRun", "XFetch", "backoff",
    "brief_refresh_probability", "bursts", "hot_key", "make_defence", "run_peer", "run_stampede",
    "summarize", "table", "top_customers", "xfetch_claimed_range", "xfetch_expected_recomputes", "xfetch_should_recompute",
]
