"""Every defence by name, the brief's two included (kept to compare against)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import redis

from .brief import BriefLock, BriefProbabilistic
from .defences import (
    CoalescedLock,
    Defence,
    LockDefence,
    NoProtection,
    RefreshAhead,
    SingleFlightDefence,
    StaleWhileRevalidate,
    XFetch,
)

__all__ = ["DEFENCES", "make_defence"]

#: name -> class, in the order the notebook presents them
DEFENCES: dict[str, type[Defence]] = {
    cls.name: cls for cls in (NoProtection, LockDefence, BriefProbabilistic, XFetch,
                              RefreshAhead, SingleFlightDefence, StaleWhileRevalidate,
                              CoalescedLock, BriefLock)
}


def make_defence(name: str, r: redis.Redis, compute: Callable[[str], Any], ttl: float,
                 **options) -> Defence:
    """Build the defence called ``name`` (one of :data:`DEFENCES`)."""
    if not isinstance(name, str) or name not in DEFENCES:
        raise ValueError(f"unknown defence {name!r}; choose one of {', '.join(DEFENCES)}")
    return DEFENCES[name](r, compute, ttl, **options)
