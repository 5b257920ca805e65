"""Worked answers for notebook 00's exercises (kept out of the notebook on purpose)."""

import time

from cachelab.keys import escape_glob


def solution_1(r, n=1000):
    """Median PING round trip in microseconds."""
    times = []
    for _ in range(n):
        start = time.perf_counter()
        r.ping()
        times.append(time.perf_counter() - start)
    times.sort()
    return times[len(times) // 2] * 1e6


def solution_2(keys, user_id):
    """Escape the id so that '*' or '4*' only ever match themselves."""
    return escape_glob(keys("user", user_id)) + ":*"


# Deliberately wrong answers: the tests make sure each self-check rejects them.
def wrong_1_ns(r, n=1000):
    return solution_1(r, n) * 1000  # nanoseconds, not microseconds


def wrong_1(r, n=1000):
    start = time.perf_counter()
    for _ in range(n):
        r.ping()
    return time.perf_counter() - start  # total seconds, not a median in µs


def wrong_2(keys, user_id):
    return keys("user", user_id) + "*"  # the brief's pattern: unescaped and too wide


SOLUTIONS = {1: solution_1, 2: solution_2}
WRONG = {1: wrong_1, 2: wrong_2}
MORE_WRONG = {1: [wrong_1_ns]}  # further wrong answers a check must also reject
