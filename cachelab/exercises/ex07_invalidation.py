"""Self-checks for notebook 07 (invalidation)."""

from __future__ import annotations

import threading
import uuid

from ..invalidation.local import MISSING, LocalCache
from ..keys import Keys, delete_prefix
from ..selfcheck import expect, run_check
from ..server import connect


def check_1(invalidate_tag) -> str:
    """Exercise 1: delete exactly a tag's members and the tag set, and count them."""
    r = connect()
    keys = Keys("07").child("selfcheck", uuid.uuid4().hex)
    try:
        members = [keys("user", uid, "profile") for uid in ("1", "*", "[a]", "b\\c", "4?")]
        bystanders = [keys("user", uid, "profile") for uid in ("10", "2", "a")]
        tag = keys("tag", "group")
        for name in members + bystanders:
            r.set(name, "v", ex=300)
        r.sadd(tag, *members, keys("user", "expired", "profile"))  # one member already gone
        r.expire(tag, 300)
        n = invalidate_tag(r, tag)
        expect(isinstance(n, int) and not isinstance(n, bool),
               f"return the number of deleted keys as an int, not {type(n).__name__}")
        left = [m for m in members if r.exists(m)]
        expect(not left, f"these tagged keys are still there: {left[:3]}")
        gone = [b for b in bystanders if not r.exists(b)]
        expect(not gone, f"you deleted keys that were not in the tag: {gone[:3]} — delete the "
               "set's members by name, never by a pattern built from them")
        expect(not r.exists(tag), "the tag set itself is still there: delete it too, or it keeps "
               "listing keys that no longer exist")
        expect(n == len(members), f"you returned {n}, but {len(members)} cached keys were deleted "
               "(the member that had already expired does not count)")
    finally:
        delete_prefix(r, keys)
    return "exactly the tagged keys and the tag set went, whatever their names"


def check_2(read_through) -> str:
    """Exercise 2: a read-through that never stores a value invalidated during its fetch."""
    local = LocalCache()
    calls = []

    def fetch_plain():
        calls.append(1)
        return {"v": 1}

    value = read_through(local, "k", fetch_plain)
    expect(value == {"v": 1}, f"on a miss return what fetch() returned, not {value!r}")
    expect(local.get("k") == {"v": 1}, "on a miss, store the fetched value in the local cache")
    again = read_through(local, "k", fetch_plain)
    expect(again == {"v": 1} and len(calls) == 1,
           "on a hit, return the local copy without calling fetch() again")
    cached_none = LocalCache()
    cached_none.fill("n", None, cached_none.begin("n"))
    expect(read_through(cached_none, "n", lambda: "fetched") is None,
           "a cached None is a hit: compare with MISSING, not with None")

    def fetch_racing():
        # An invalidation arrives (from the listener thread) while we read the old value.
        t = threading.Thread(target=local.invalidate, args=("race",))
        t.start()
        t.join()
        return {"v": "old"}

    read_through(local, "race", fetch_racing)
    expect(local.get("race") is MISSING,
           "the key was invalidated while fetch() ran, yet the old value was stored: take "
           "local.begin(key) *before* fetching and store with local.fill(key, value, token)")
    return "hits are served locally, and a fill that raced an invalidation is refused"


CHECKS = {1: check_1, 2: check_2}


def check(n: int, answer) -> bool:
    """Run exercise ``n``'s self-check on ``answer`` and show the verdict."""
    return run_check(CHECKS[n], answer)

