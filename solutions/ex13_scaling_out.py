"""Worked answers for notebook 13's exercises (kept out of the notebook on purpose)."""

import bisect

from cachelab.cluster import tagged


def solution_1(keys, user_id, what):
    """Hash-tag the user: only {user:<id>} is hashed, braces in ids are encoded."""
    return tagged(keys, "user", user_id)(what)


def solution_2(points, h):
    """First point >= h, wrapping past the end of the ring."""
    values = [p for p, _ in points]
    i = bisect.bisect_left(values, h)
    return points[i % len(points)][1]


# Deliberately wrong answers: the tests make sure each self-check rejects them.
def wrong_1(keys, user_id, what):
    return keys("{user}", user_id, what)  # one tag for everybody: every user on one master


def wrong_2(points, h):
    values = [p for p, _ in points]
    return points[bisect.bisect_left(values, h)][1]  # no wrap-around: IndexError past the end


SOLUTIONS = {1: solution_1, 2: solution_2}
WRONG = {1: wrong_1, 2: wrong_2}
