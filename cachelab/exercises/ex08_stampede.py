"""Self-checks for notebook 08 (cache stampedes)."""

from __future__ import annotations

import math
import random
import statistics
import uuid

from ..keys import Keys, delete_prefix
from ..selfcheck import expect, run_check
from ..server import connect
from ..stampede import xfetch_should_recompute


def check_1(release) -> str:
    """Exercise 1: release(r, lock_key, token) frees the lock only for its holder."""
    r = connect()
    keys = Keys("08").child("selfcheck", uuid.uuid4().hex)
    lock = keys("report", "lock")
    try:
        r.set(lock, "token-of-B", px=30_000)
        freed = release(r, lock, "token-of-A")
        expect(r.get(lock) == b"token-of-B",
               "release() with A's token deleted B's lock: compare the stored token with yours "
               "before deleting, in one Lua script (GET and DEL as one step)")
        expect(freed in (False, 0), f"releasing someone else's lock must return False, got {freed!r}")
        freed = release(r, lock, "token-of-B")
        expect(not r.exists(lock), "release() with the holder's own token left the lock in place")
        expect(freed in (True, 1), f"releasing your own lock should return True, got {freed!r}")
        expect(release(r, lock, "token-of-B") in (False, 0),
               "releasing a lock that is already gone (expired) must return False")
    finally:
        delete_prefix(r, keys)
    return "only the holder's token frees the lock"


def check_2(should_recompute) -> str:
    """Exercise 2: XFetch's rule, now - delta * beta * ln(u) >= expiry."""
    rng = random.Random(8)
    cases = [(1000.0, rng.uniform(0.001, 2), rng.choice([0.5, 1, 2, 3]),
              1000.0 + rng.uniform(0, 5), rng.uniform(1e-6, 1)) for _ in range(2000)]
    cases += [(1000.0, 0.1, 2.0, 1000.15, 0.5), (1000.0, 0.1, 0.5, 1000.01, 0.9)]
    for now, delta, beta, expiry, u in cases:
        got = should_recompute(now, delta, beta, expiry, u)
        want = xfetch_should_recompute(now, delta, beta, expiry, u)
        expect(isinstance(got, bool), f"return True or False, not {type(got).__name__}")
        expect(got == want,
               f"with now={now}, delta={delta:.3f}, beta={beta}, expiry={expiry:.3f}, u={u:.3f} "
               f"you said {got}, XFetch says {want}: beta scales the time (delta*beta*ln(u)), it "
               "does not multiply a probability")
    return "matches Vattani et al.'s rule on 2,002 cases"


def check_3(next_sleep) -> str:
    """Exercise 3: full-jitter exponential backoff, 10 ms base, 50 ms cap, within the deadline."""
    random.seed(8)
    for attempt in range(30):
        for remaining in (10.0, 0.02, 0.001, 0.0):
            d = next_sleep(attempt, remaining)
            expect(isinstance(d, (int, float)) and math.isfinite(d) and d >= 0,
                   f"next_sleep({attempt}, {remaining}) returned {d!r}; return seconds >= 0")
            expect(d <= remaining + 1e-12,
                   f"next_sleep({attempt}, remaining={remaining}) = {d:.4f}s sleeps past the deadline")
            expect(d <= 0.05 + 1e-12, f"next_sleep({attempt}, …) = {d:.4f}s is over the 50 ms cap")
    first = [next_sleep(0, 10.0) for _ in range(400)]
    later = [next_sleep(5, 10.0) for _ in range(400)]
    expect(len({round(x, 6) for x in later}) > 100,
           "the sleeps are (nearly) all the same: add jitter, e.g. random.uniform(0, ceiling)")
    expect(max(first) <= 0.010 + 1e-12,
           f"the first wait should be at most the 10 ms base, got up to {max(first) * 1000:.1f} ms")
    expect(statistics.mean(later) > 2 * statistics.mean(first),
           "the waits do not grow with the attempt number: double the ceiling each time")
    return "jittered, growing, capped, and never past the deadline"


CHECKS = {1: check_1, 2: check_2, 3: check_3}


def check(n: int, answer) -> bool:
    """Run exercise ``n``'s self-check on ``answer`` and show the verdict."""
    return run_check(CHECKS[n], answer)
