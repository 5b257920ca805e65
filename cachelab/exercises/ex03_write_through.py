"""Self-checks for notebook 03 (write-through)."""

from __future__ import annotations

import random
import threading
import uuid

from ..breaker import fast_fail_client
from ..codec import dumps, loads
from ..faults import refusing_writes, stopped
from ..keys import Keys, delete_prefix
from ..selfcheck import expect, run_check, scratch_db
from ..server import RedisProcess, connect


def check_1(write_user) -> str:
    """Exercise 1: database first; then the cache; on a cache failure invalidate, else raise."""
    db = scratch_db(latency_ms=0, users=200, orders=200)
    keys = Keys("03").child("selfcheck")
    uid = random.randint(1, 200)
    key = keys("user", uid)
    with RedisProcess() as lab:
        r = fast_fail_client(lab.url, timeout=0.2)

        def plan_change():
            return "team" if db.get_user(uid)["plan"] != "team" else "pro"

        # 1. no fault: both stores get the new row
        plan = plan_change()
        row = write_user(r, db, keys, uid, plan=plan)
        now = db.get_user(uid)
        expect(now["plan"] == plan, "the database does not have the new plan: write it first "
               "(db.update_user or a db.transaction())")
        expect(isinstance(row, dict) and row.get("plan") == plan,
               f"return the committed row, got {row!r}")
        raw = r.get(key)
        expect(raw is not None and loads(raw) == now,
               "after a normal write the cache should hold the committed row as JSON under "
               "keys('user', user_id)")
        expect(0 < r.pttl(key) <= 300_000, "give the cached row a TTL of 300 s")

        # 2. Redis refuses writes (OOM): the SET fails, a DEL still works
        plan = plan_change()
        with refusing_writes(lab):
            try:
                write_user(r, db, keys, uid, plan=plan)
                raised = None
            except Exception as exc:  # allowed, but the database must keep the write
                raised = exc
        now = db.get_user(uid)
        expect(now["plan"] == plan,
               "when the cache write failed, the database lost the change: never roll the "
               "database back — it is the source of truth (and another writer may have "
               f"written since){f' (your code raised {raised!r})' if raised else ''}")
        raw = r.get(key)
        expect(raw is None or loads(raw) == now,
               f"the cache still holds the old row (version {loads(raw).get('version') if raw else '-'}) "
               f"while the database has version {now['version']}: when the SET fails, delete the key")

        # 3. Redis stopped: neither SET nor DEL can work, so the caller must be told
        r.set(key, dumps(now), ex=300)
        plan = plan_change()
        with stopped(lab):
            try:
                write_user(r, db, keys, uid, plan=plan)
                told = False
            except Exception:
                told = True
        expect(db.get_user(uid)["plan"] == plan,
               "with Redis stopped the database must still get the write")
        expect(told, "with Redis stopped your function returned normally, but it could neither "
               "update nor invalidate the cache: raise so the caller knows the cache may be stale")
        delete_prefix(r, keys)
    return "database first; a failed cache write invalidates; if even that fails, the caller is told"


def check_2(cache_if_newer) -> str:
    """Exercise 2: an older version never replaces a newer one, even under concurrency."""
    r = connect()
    keys = Keys("03").child("selfcheck", uuid.uuid4().hex)
    key = keys("user", 1)

    def row(v):
        return {"id": 1, "name": "Ada", "version": v}

    try:
        cache_if_newer(r, key, row(3), 300)
        expect(r.get(key) is not None and loads(r.get(key)) == row(3),
               "an empty key should simply get the row (as JSON)")
        expect(0 < r.pttl(key) <= 300_000, "set the TTL you were given (in seconds)")
        cache_if_newer(r, key, row(2), 300)
        got = loads(r.get(key))["version"]
        expect(got == 3, f"writing version 2 over version 3 left version {got}: compare versions "
               "before writing")
        cache_if_newer(r, key, row(4), 300)
        expect(loads(r.get(key))["version"] == 4, "a newer version should replace an older one")

        r.delete(key)
        versions = list(range(1, 61))
        random.shuffle(versions)
        chunks = [versions[i::6] for i in range(6)]
        gate = threading.Barrier(6)

        def writer(chunk):
            gate.wait()
            for v in chunk:
                cache_if_newer(r, key, row(v), 300)

        threads = [threading.Thread(target=writer, args=(c,)) for c in chunks]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        got = loads(r.get(key))["version"]
        expect(got == 60, f"six threads wrote versions 1..60 in random order and the cache ended "
               f"with {got}: the compare and the write must be one atomic step (a Lua script, "
               "or WATCH/MULTI/EXEC with a retry)")
        return "older versions can never overwrite newer ones"
    finally:
        delete_prefix(r, keys)


CHECKS = {1: check_1, 2: check_2}


def check(n: int, answer) -> bool:
    """Run exercise ``n``'s self-check on ``answer`` and show the verdict."""
    return run_check(CHECKS[n], answer)
