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
    small, large = ping_p50_us(r, 100), ping_p50_us(r, 400)
    for value in (small, large):
        expect(isinstance(value, (int, float)) and not isinstance(value, bool),
               f"return a number of microseconds, not {type(value).__name__}")
        expect(math.isfinite(value) and value > 0,
               f"a round trip takes some time; you returned {value}")
    # A median does not grow with the number of pings; a total grows 4x from 100 to 400.
    expect(large < 2.5 * small,
           f"with 4x more pings your answer grew from {small:.3g} to {large:.3g}: return the "
           "median of the round trips, not their total")
    # Units without timing thresholds: a loopback round trip is far above 1 µs and far below
    # one second, so a value under 1 is in seconds or ms; nanoseconds are ~1000x a GET here.
    expect(large > 1, f"{large:.3g} is too small to be microseconds: did you return seconds "
           "or milliseconds? Multiply by 1e6 (or 1e3).")
    key = Keys("00").child("selfcheck", uuid.uuid4().hex)("k")
    ours_us = percentile(redis_get_ns(r, key, 300), 50) / 1000
    r.delete(key)
    expect(large < 200 * ours_us,
           f"{large:.0f} µs is hundreds of times a loopback GET ({ours_us:.0f} µs here): did "
           "you return nanoseconds? Divide by 1000.")
    return f"your median is {large:.0f} µs; cachelab measured {ours_us:.0f} µs for a GET"


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
