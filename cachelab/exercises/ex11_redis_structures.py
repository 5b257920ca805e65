"""Self-checks for notebook 11 (Redis data structures and round trips)."""

from __future__ import annotations

import threading
import uuid

from ..keys import Keys, delete_prefix
from ..netdelay import DelayProxy
from ..selfcheck import expect, run_check
from ..server import connect

USER = {"name": "Ada", "plan": "pro", "country": "GB"}


def _decoded(raw: dict) -> dict:
    return {k.decode(): v.decode() for k, v in raw.items()}


def check_1(update_if_cached) -> str:
    """Exercise 1: update some fields of a cached hash only if it is cached; restart its TTL."""
    r = connect()
    keys = Keys("11").child("selfcheck", uuid.uuid4().hex)
    try:
        missing = keys("user", "missing")
        update_if_cached(r, missing, {"plan": "team"}, 60)
        expect(r.exists(missing) == 0,
               "updating a user that is not cached created a key "
               f"{_decoded(r.hgetall(missing))} with TTL {r.ttl(missing)}: a partial object that "
               "later reads take for the whole user. Check that the hash exists, in the same atomic step.")

        key = keys("user", 1)
        r.hset(key, mapping=USER)
        r.pexpire(key, 5_000)
        update_if_cached(r, key, {"plan": "team"}, 60)
        got = _decoded(r.hgetall(key))
        expect(got == {**USER, "plan": "team"},
               f"after changing only 'plan' the user reads {got}: the other fields must stay as they were")
        expect(r.pttl(key) > 30_000,
               f"the TTL is {r.pttl(key)} ms after the update; restart it to the ttl you were given "
               "(HSET alone never touches it)")

        # Race the update against the object expiring and being cached again.
        stop = threading.Event()
        bad: list[str] = []

        def churn() -> None:
            while not stop.is_set():
                pipe = r.pipeline(transaction=True)
                pipe.delete(key)
                pipe.hset(key, mapping=USER)
                pipe.pexpire(key, 60_000)
                pipe.execute()
                r.delete(key)  # expired

        def observe() -> None:
            while not stop.is_set():
                pipe = r.pipeline(transaction=True)
                pipe.hgetall(key)
                pipe.pttl(key)
                raw, pttl = pipe.execute()
                if raw and pttl == -1:
                    bad.append(f"a user with no TTL: {_decoded(raw)}")
                elif raw and "name" not in _decoded(raw):
                    bad.append(f"a partial user: {_decoded(raw)}")

        threads = [threading.Thread(target=churn), threading.Thread(target=observe)]
        for t in threads:
            t.start()
        try:
            for _ in range(300):
                update_if_cached(r, key, {"plan": "team"}, 60)
        finally:
            stop.set()
            for t in threads:
                t.join()
        if bad:
            expect(False, f"while the user kept expiring and being re-cached, a reader saw {bad[0]} "
                   f"({len(bad)} times): the existence check and the writes must be one atomic "
                   "step (a Lua script, or WATCH + MULTI)")
    finally:
        delete_prefix(r, keys)
    return "missing users stay missing, other fields stay, the TTL restarts, and no reader saw a partial user"


def check_2(set_many) -> str:
    """Exercise 2: write many keys, each with a TTL, in a single round trip."""
    r = connect()
    keys = Keys("11").child("selfcheck", uuid.uuid4().hex)
    mapping = {keys("k", i): f"value-{i}" for i in range(50)}
    try:
        with DelayProxy.for_client(r) as proxy:
            far = proxy.client(r)
            far.ping()  # connect first: the handshake is not the learner's round trip
            proxy.reset_counters()
            set_many(far, mapping, 60)
            trips = proxy.round_trips
            far.close()
        values = r.mget(list(mapping))
        expect(all(v is not None for v in values),
               f"{sum(v is None for v in values)} of the 50 keys were not written")
        expect([v.decode() for v in values] == list(mapping.values()), "some keys hold the wrong value")
        pipe = r.pipeline(transaction=False)
        for k in mapping:
            pipe.pttl(k)
        ttls = pipe.execute()
        expect(all(0 < t <= 60_000 for t in ttls),
               f"{sum(not 0 < t <= 60_000 for t in ttls)} keys have no TTL or the wrong one "
               "(MSET cannot set a TTL: give each SET its own ex=)")
        expect(trips <= 1, f"the proxy counted {trips} round trips for 50 keys; send them all at "
               "once (a pipeline) and read the replies once")
    finally:
        delete_prefix(r, keys)
    return f"50 keys with TTLs in {trips} round trip"


CHECKS = {1: check_1, 2: check_2}


def check(n: int, answer) -> bool:
    """Run exercise ``n``'s self-check on ``answer`` and show the verdict."""
    return run_check(CHECKS[n], answer)
