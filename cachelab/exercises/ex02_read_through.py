"""Self-checks for notebook 02 (read-through)."""

from __future__ import annotations

import threading
import time
import uuid

from ..codec import dumps, loads
from ..keys import Keys, delete_prefix
from ..selfcheck import expect, run_check, scratch_db
from ..server import connect
from ..workload import burst


def check_1(get_many) -> str:
    """Exercise 1: one MGET, then one batch load for all the misses."""
    r, keys = connect(), Keys("02").child("selfcheck", uuid.uuid4().hex)
    db = scratch_db(latency_ms=0, users=200, orders=200)
    calls: list[list[int]] = []

    def load_many(ids):
        calls.append(list(ids))
        return db.get_users(list(ids))

    try:
        for uid in (1, 2):
            r.set(keys("user", uid), dumps(db.get_user(uid)), ex=300)
        ids = list(range(1, 11)) + [10_000_000]
        out = get_many(r, keys, ids, load_many)
        expect(isinstance(out, dict), f"return a dict {{id: row}}, got {type(out).__name__}")
        expect(set(out) == set(ids), f"return every id you were asked for; missing "
               f"{sorted(set(ids) - set(out))}")
        truth = db.get_users(ids)
        wrong = [i for i in ids if out[i] != truth.get(i)]
        expect(not wrong, f"wrong rows for ids {wrong} (an unknown id should map to None)")
        expect(len(calls) == 1, f"the misses took {len(calls)} calls of load_many; load them all "
               "in one call (that is the point of batching)")
        expect(sorted(calls[0]) == list(range(3, 11)) + [10_000_000],
               f"load_many was asked for {sorted(calls[0])}; ids 1 and 2 were cached already")
        calls.clear()
        again = get_many(r, keys, ids[:-1], load_many)
        expect(not calls, "a second get_many of the same ids should be all hits: cache what you "
               "loaded (r.set(key, dumps(row), ex=300))")
        expect(again == {i: out[i] for i in ids[:-1]}, "the second call returned different rows")
        expect(loads(r.get(keys("user", 5))) == truth[5], "cache rows as JSON under keys('user', id)")
        return "one round trip to Redis and one query for all the misses"
    finally:
        delete_prefix(r, keys)


def check_2(coalesced) -> str:
    """Exercise 2: concurrent calls for one id share one load."""
    calls: list[int] = []
    lock = threading.Lock()

    def slow_load(item_id):
        with lock:
            calls.append(item_id)
        time.sleep(0.2)  # a slow query, so the callers overlap
        return {"id": item_id, "loaded_by": threading.get_ident()}

    get = coalesced(slow_load)
    expect(callable(get), f"coalesced(load) should return a function, got {type(get).__name__}")
    results, _ = burst(get, 20, 5)
    errors = [r for r in results if isinstance(r, Exception)]
    expect(not errors, f"a caller raised {errors[0]!r}" if errors else "")
    expect(len(calls) == 1, f"20 concurrent callers caused {len(calls)} loads; they should share one")
    expect(all(r == results[0] for r in results), "every caller should get the leader's result")
    calls.clear()
    order = iter([6, 7] * 5)

    def mixed():
        with lock:
            item_id = next(order)
        return get(item_id)

    burst(mixed, 10)
    expect(sorted(set(calls)) == [6, 7] and len(calls) == 2,
           f"callers of two different ids made loads {sorted(calls)}; expected one per id")
    return "one load per id, however many callers"


CHECKS = {1: check_1, 2: check_2}


def check(n: int, answer) -> bool:
    """Run exercise ``n``'s self-check on ``answer`` and show the verdict."""
    return run_check(CHECKS[n], answer)
