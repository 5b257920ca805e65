"""Worked answers for notebook 05's exercises (kept out of the notebook on purpose)."""

import secrets


def solution_1(pttl_ms, ttl_ms, refresh_at):
    """-2: gone, a miss; -1: no TTL, refresh once; inside the last part of the TTL: refresh."""
    if pttl_ms == -2:
        return "miss"
    # ttl - ttl * refresh_at, not ttl * (1 - refresh_at): 1 - 0.8 is 0.19999999999999996
    if pttl_ms == -1 or pttl_ms <= ttl_ms - ttl_ms * refresh_at:
        return "refresh"
    return "serve"


def solution_2(r, guard_key, guard_ms):
    """SET NX PX: one atomic step decides the winner, and the guard expires by itself."""
    return bool(r.set(guard_key, secrets.token_hex(8), nx=True, px=guard_ms))


# Deliberately wrong answers: the tests make sure each self-check rejects them.
def wrong_1(pttl_ms, ttl_ms, refresh_at):
    return "refresh" if pttl_ms < ttl_ms * (1 - refresh_at) else "serve"  # the brief's test


def wrong_2(r, guard_key, guard_ms):
    return bool(r.set(guard_key, 1, nx=True))  # no expiry: a dead refresher blocks it forever


SOLUTIONS = {1: solution_1, 2: solution_2}
WRONG = {1: wrong_1, 2: wrong_2}
