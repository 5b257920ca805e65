"""TTL helpers shared by every pattern: validation with clear errors, and jitter."""

from __future__ import annotations

import random

__all__ = ["check_ttl", "jitter"]


def check_ttl(ttl, *, allow_none: bool = False) -> float | None:
    """Return ``ttl`` (seconds) if it is a positive number; raise a clear error otherwise."""
    if ttl is None and allow_none:
        return None
    if isinstance(ttl, bool) or not isinstance(ttl, (int, float)):
        raise TypeError(f"ttl must be a number of seconds, got {type(ttl).__name__} {ttl!r}")
    if not ttl > 0:  # also rejects NaN
        raise ValueError(f"ttl must be positive, got {ttl!r}; to stop caching a key, delete it "
                         "instead of giving it a zero or negative TTL")
    return ttl


def jitter(ttl: float, spread: float = 0.1, rng: random.Random | None = None) -> int:
    """``ttl`` seconds scattered uniformly by ±``spread`` (a fraction), as whole seconds >= 1.

    Keys written together with one fixed TTL expire together and all miss at once (an
    avalanche); a little randomness spreads their expiry over a window instead.
    """
    check_ttl(ttl)
    if not 0 <= spread < 1:
        raise ValueError(f"spread is a fraction in [0, 1), got {spread!r}")
    factor = 1 + (rng or random).uniform(-spread, spread)
    return max(1, round(ttl * factor))
