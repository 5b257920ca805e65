"""Worked answers for notebook 08's exercises (kept out of the notebook on purpose)."""

import math
import random

# KEYS[1]: the lock key.  ARGV[1]: the caller's token.
# Returns 1 if the lock held that token and is now deleted, 0 otherwise.
RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
    return redis.call('DEL', KEYS[1])
end
return 0
"""


def solution_1(r, lock_key, token):
    """Compare-and-delete in one atomic step."""
    return bool(r.eval(RELEASE, 1, lock_key, token))


def solution_2(now, delta, beta, expiry, u):
    """XFetch: recompute early when now - delta * beta * ln(u) >= expiry."""
    return now - delta * beta * math.log(u) >= expiry


def solution_3(attempt, remaining, base=0.010, cap=0.050):
    """Full jitter: uniform in [0, min(cap, base * 2**attempt)], never past the deadline."""
    ceiling = min(cap, base * 2 ** min(attempt, 30))
    return min(random.uniform(0, ceiling), max(0.0, remaining))


# Deliberately wrong answers: the tests make sure each self-check rejects them.
def wrong_1(r, lock_key, token):
    return bool(r.delete(lock_key))  # the brief's release: frees whoever holds it


def wrong_2(now, delta, beta, expiry, u):
    # The brief's shape: beta multiplies a probability instead of scaling time.
    return u < beta * math.exp(-(expiry - now) / delta)


def wrong_3(attempt, remaining):
    return 0.1  # the brief's fixed sleep


SOLUTIONS = {1: solution_1, 2: solution_2, 3: solution_3}
WRONG = {1: wrong_1, 2: wrong_2, 3: wrong_3}
