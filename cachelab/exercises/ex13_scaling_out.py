"""Self-checks for notebook 13 (scaling out)."""

from __future__ import annotations

import bisect
import random

from ..cluster.sharding import ConsistentHashRing, stable_hash
from ..cluster.slots import SLOTS, key_slot
from ..keys import Keys
from ..selfcheck import expect, run_check

# Ids a real system meets: numbers, names, and strings that look like hash-tag syntax.
_ODD_IDS = [42, 7, "alice", "a}b", "{x}", "}", "{", "a{b}c", "", "x" * 200]


def check_1(user_key) -> str:
    """Exercise 1: one user's keys share a slot; different users spread out."""
    keys = Keys("13")
    parts = ("profile", "cart", "orders", "session")
    for uid in _ODD_IDS:
        if uid == "":
            continue  # Keys refuses empty parts; no need to ask the learner for more
        names = [user_key(keys, uid, what) for what in parts]
        expect(all(isinstance(n, str) for n in names), "return each key as a str")
        expect(len(set(names)) == len(parts),
               f"user {uid!r}: different pieces of data must get different keys, got {names}")
        expect(all(n.startswith(keys.prefix + ":") for n in names),
               f"keep the keys under the notebook's prefix {keys.prefix!r} (build them with keys)")
        slots = {key_slot(n) for n in names}
        expect(len(slots) == 1,
               f"user {uid!r}: the keys {names[:2]}… fall into {len(slots)} slots; put the user in a "
               "hash tag {…} so only that part is hashed")
    spread = {key_slot(user_key(keys, uid, "profile")) for uid in range(1, 501)}
    expect(len(spread) > 400,
           f"500 users share only {len(spread)} slot(s): the hash tag must contain the user id, "
           "otherwise every user lands on the same master")
    a, b = user_key(keys, "a}b", "profile"), user_key(keys, "a", "profile")
    expect(key_slot(a) != key_slot(b),
           "user 'a}b' shares a slot with user 'a': a '}' inside the id ended your tag early; "
           "encode braces in ids (cachelab.cluster.tagged does)")
    return f"one slot per user, 500 users over {len(spread)} of {SLOTS} slots"


def check_2(ring_node) -> str:
    """Exercise 2: consistent-hash ring lookup with wrap-around."""
    ring = ConsistentHashRing(["a", "b", "c", "d"], vnodes=20)
    points = [(p, ring._owner[p]) for p in ring._points]
    values = [p for p, _ in points]

    def reference(h: int) -> str:
        i = bisect.bisect_left(values, h) % len(values)
        return points[i][1]

    rng = random.Random(13)
    probes = [stable_hash(f"user:{i}") for i in range(2000)]
    probes += [values[0], values[-1], values[-1] + 1, 0, 2**64 - 1, values[5] - 1]
    probes += [rng.randrange(2**64) for _ in range(500)]
    for h in probes:
        got = ring_node(list(points), h)
        expect(got == reference(h),
               f"for h={h} you returned {got!r}, the ring says {reference(h)!r}"
               + (" (h is past the last point: wrap around to the first)" if h > values[-1] else ""))
    return f"{len(probes)} lookups agree with the ring, including the wrap-around"


CHECKS = {1: check_1, 2: check_2}


def check(n: int, answer) -> bool:
    """Run exercise ``n``'s self-check on ``answer`` and show the verdict."""
    return run_check(CHECKS[n], answer)
