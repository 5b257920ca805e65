"""Self-checks for notebook 00 (start here)."""

from __future__ import annotations

import math
import uuid

from ..keys import Keys, delete_prefix, scan_keys
from ..ladder import redis_get_ns
from ..metrics import percentile
from ..selfcheck import expect, run_check
from ..server import connect


def check_1(ping_p50_us) -> str:
    """Exercise 1: median PING round trip in microseconds."""
    r = connect()
    value = ping_p50_us(r, 500)
    expect(isinstance(value, (int, float)) and not isinstance(value, bool),
           f"return a number of microseconds, not {type(value).__name__}")
    expect(math.isfinite(value) and value > 0, f"a round trip takes some time; you returned {value}")
    # No round trip through a socket takes under a microsecond; a smaller number is a value in
    # seconds (a fixed floor: the relative bound below drifts when the machine is busy).
    expect(value >= 1, f"{value} µs is faster than any socket round trip: did you return seconds "
           "instead of microseconds?")
    key = Keys("00").child("selfcheck", uuid.uuid4().hex)("k")
    ours_us = percentile(redis_get_ns(r, key, 500), 50) / 1000
    r.delete(key)
    expect(value < 1000 * ours_us,
           f"{value:.0f} µs is far slower than a loopback round trip ({ours_us:.0f} µs here): "
           "did you return nanoseconds or a total instead of the median?")
    expect(value > ours_us / 1000,
           f"{value} is far too fast for a network round trip ({ours_us:.0f} µs here): did you "
           "return seconds instead of microseconds?")
    return f"your median is {value:.0f} µs; cachelab measured {ours_us:.0f} µs for a GET"


def check_2(user_pattern) -> str:
    """Exercise 2: a SCAN pattern that matches exactly one user's keys, whatever the id."""
    r = connect()
    keys = Keys("00").child("selfcheck", uuid.uuid4().hex)
    ids = ["42", "4", "420", "4*", "4?", "[4]", "a\\b", "*"]
    try:
        for uid in ids:
            for what in ("profile", "orders"):
                r.set(keys("user", uid, what), 1)
        for uid in ids:
            pattern = user_pattern(keys, uid)
            expect(isinstance(pattern, str), f"return the pattern as a str, not {type(pattern).__name__}")
            found = {k.decode() for k in scan_keys(r, pattern)}
            wanted = {keys("user", uid, "profile"), keys("user", uid, "orders")}
            extra, missing = found - wanted, wanted - found
            expect(not extra, f"for id {uid!r} your pattern {pattern!r} also matched "
                   f"{sorted(extra)[:3]}: escape the id's glob characters (cachelab.escape_glob)")
            expect(not missing, f"for id {uid!r} your pattern {pattern!r} missed {sorted(missing)}")
    finally:
        delete_prefix(r, keys)
    return "no id, not even '*', matches another user's keys"


CHECKS = {1: check_1, 2: check_2}


def check(n: int, answer) -> bool:
    """Run exercise ``n``'s self-check on ``answer`` and show the verdict."""
    return run_check(CHECKS[n], answer)
