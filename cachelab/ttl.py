"""TTL helpers shared by every pattern: validation with clear errors, and jitter."""

from __future__ import annotations

import random

from .checks import MAX_TTL_S, CachelabValueError, positive

__all__ = ["check_ttl", "jitter"]


def check_ttl(ttl, *, allow_none: bool = False) -> float | None:
    """Return ``ttl`` (seconds) if it is a positive finite number; raise a clear error otherwise."""
    if ttl is None and allow_none:
        return None
    return positive("ttl", ttl, high=MAX_TTL_S,
                    hint="; a TTL is in seconds: to stop caching a key, delete it; to keep "
                    "it forever, give it no TTL")


def jitter(ttl: float, spread: float = 0.1, rng: random.Random | None = None) -> int:
    """``ttl`` seconds scattered uniformly by ±``spread`` (a fraction), as whole seconds >= 1.

    Keys written together with one fixed TTL expire together and all miss at once (an
    avalanche); a little randomness spreads their expiry over a window instead.
    """
    positive("ttl", ttl)  # no cap here: callers pass seconds or milliseconds
    if isinstance(spread, bool) or not isinstance(spread, (int, float)) or not 0 <= spread < 1:
        raise CachelabValueError(f"spread is a fraction in [0, 1), got {spread!r}")
    factor = 1 + (rng or random).uniform(-spread, spread)
    return max(1, round(ttl * factor))
