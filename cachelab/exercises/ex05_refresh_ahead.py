"""Self-checks for notebook 05 (refresh-ahead)."""

from __future__ import annotations

import threading
import time
import uuid

from ..keys import Keys, delete_prefix
from ..selfcheck import expect, run_check
from ..server import connect


def check_1(action) -> str:
    """Exercise 1: what a read does, given the key's PTTL: 'miss', 'refresh' or 'serve'."""
    ttl_ms, refresh_at = 10_000, 0.8  # the window is the last 2000 ms
    cases = [(-2, "miss"), (-1, "refresh"), (0, "refresh"), (1500, "refresh"), (2000, "refresh"),
             (2001, "serve"), (9999, "serve")]
    for pttl, wanted in cases:
        got = action(pttl, ttl_ms, refresh_at)
        why = {-2: "PTTL -2 means the key does not exist: that is a miss, not something to refresh",
               -1: "PTTL -1 means the key has no TTL: its age is unknown, so refresh it (once) "
                   "and let the refresh give it a TTL"}.get(pttl, "the window is the last "
                                                             "(1 - refresh_at) of the TTL")
        expect(got == wanted, f"for PTTL {pttl} you said {got!r}, expected {wanted!r}: {why}")
    return "all seven cases, including -1 and -2"


def check_2(become_refresher) -> str:
    """Exercise 2: exactly one of many concurrent readers becomes the refresher, for a while."""
    r = connect()
    keys = Keys("05").child("selfcheck", uuid.uuid4().hex)
    guard, guard_ms = keys("refreshing", 1), 300
    winners: list[bool] = []
    crashes: list[BaseException] = []
    barrier = threading.Barrier(50)

    def reader():
        barrier.wait()
        try:
            winners.append(bool(become_refresher(r, guard, guard_ms)))
        except BaseException as exc:  # handed to the main thread, shown as the learner's error
            crashes.append(exc)

    try:
        become_refresher(r, keys("refreshing", "warm-up"), guard_ms)  # unfinished? say so now
        threads = [threading.Thread(target=reader) for _ in range(50)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if crashes:
            raise crashes[0]
        expect(sum(winners) == 1, f"{sum(winners)} of 50 readers became the refresher; exactly one "
               "should (SET ... NX decides it in one atomic step)")
        pttl = r.pttl(guard)
        expect(pttl != -1, "the guard never expires: if the refresher dies, no one refreshes this "
               "key again. Give it a PX")
        expect(0 < pttl <= guard_ms, f"the guard's PTTL is {pttl} ms; expected at most {guard_ms}")
        time.sleep((pttl + 50) / 1000)  # wait for the real expiry
        expect(become_refresher(r, guard, guard_ms), "after the guard expired, the next reader "
               "should become the refresher for the next window")
    finally:
        delete_prefix(r, keys)
    return "one winner out of 50, and the guard expires on its own"


CHECKS = {1: check_1, 2: check_2}


def check(n: int, answer) -> bool:
    """Run exercise ``n``'s self-check on ``answer`` and show the verdict."""
    return run_check(CHECKS[n], answer)
