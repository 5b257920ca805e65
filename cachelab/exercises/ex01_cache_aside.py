"""Self-checks for notebook 01 (cache-aside)."""

from __future__ import annotations

import random
import uuid

from ..codec import dumps, loads
from ..db import Database
from ..keys import Keys, delete_prefix
from ..selfcheck import expect, run_check, scratch_db
from ..server import connect


def _sandbox():
    """A real Redis client, a key builder of this check's own, and a small database (knob off)."""
    return connect(), Keys("01").child("selfcheck", uuid.uuid4().hex), \
        scratch_db(latency_ms=0, users=200, orders=200)


def check_1(read_user) -> str:
    """Exercise 1: cache-aside read with negative caching."""
    r, keys, db = _sandbox()
    try:
        truth = db.get_user(7)
        q0 = db.query_count
        rows = [read_user(r, db, keys, 7) for _ in range(5)]
        expect(all(row == truth for row in rows),
               f"read_user(r, db, keys, 7) should return user 7's row as a dict; got {rows[0]!r}")
        n = db.query_count - q0
        expect(n == 1, f"five reads of user 7 made {n} database queries; the first should miss "
               "and fill the cache, the other four should be hits")
        key = keys("user", 7)
        raw = r.get(key)
        expect(raw is not None, f"nothing is cached under keys('user', 7) = {key!r}")
        expect(loads(raw) == truth, "the cached bytes should be the row as JSON (cachelab.dumps)")
        expect(0 < r.pttl(key) <= 300_000, "give found rows a TTL of 300 s: r.set(key, value, ex=300)")

        missing = 10_000_000 + random.randrange(1_000_000)
        q0 = db.query_count
        outs = [read_user(r, db, keys, missing) for _ in range(5)]
        expect(all(o is None for o in outs), f"an unknown id should give None, got {outs[0]!r}")
        n = db.query_count - q0
        expect(n == 1, f"five reads of an id that does not exist made {n} queries: cache the "
               "answer 'no such user' too (JSON null), or every such read reaches the database")
        ttl = r.pttl(keys("user", missing))
        expect(0 < ttl <= 30_000, f"the 'no such user' entry should live at most 30 s (found a "
               f"TTL of {ttl} ms): if the user is created, readers should see them soon")
        return "one query per id, found or not"
    finally:
        delete_prefix(r, keys)


class _ReaderDuringWrite:
    """The check's database: a concurrent cache-aside read runs while update_user is in flight."""

    def __init__(self, db: Database, reader):
        self._db, self._reader = db, reader

    def update_user(self, user_id, **fields):
        self._reader()  # arrives after anything done before the write, before the commit
        return self._db.update_user(user_id, **fields)

    def __getattr__(self, name):
        return getattr(self._db, name)


def check_2(update_user) -> str:
    """Exercise 2: update, then invalidate — and in that order."""
    r, keys, db = _sandbox()
    uid = random.randint(1, 200)
    key = keys("user", uid)

    def reader():
        raw = r.get(key)
        if raw is not None:
            return loads(raw)
        row = db.get_user(uid)
        r.set(key, dumps(row), ex=300)
        return row

    try:
        reader()  # the row is cached before the update
        plan = "team" if db.get_user(uid)["plan"] != "team" else "pro"
        new = update_user(r, _ReaderDuringWrite(db, reader), keys, uid, plan=plan)
        now = db.get_user(uid)
        expect(now["plan"] == plan, "the database still has the old plan: call "
               "db.update_user(user_id, **fields)")
        expect(isinstance(new, dict) and new.get("plan") == plan,
               f"return the updated row (what db.update_user returns), got {new!r}")
        raw = r.get(key)
        if raw is not None:
            cached = loads(raw)
            expect(cached == now,
                   f"Redis still holds version {cached.get('version')} of the user while the "
                   f"database has version {now['version']}. A reader that arrives during your "
                   "database write must not leave the old row behind: write the database "
                   "first, then delete the key (deleting first lets that reader put the old "
                   "row back).")
        expect(reader() == now, "after your update a cache-aside read should return the new row")
        return "the database first, then the cache: no reader can resurrect the old row"
    finally:
        delete_prefix(r, keys)


CHECKS = {1: check_1, 2: check_2}


def check(n: int, answer) -> bool:
    """Run exercise ``n``'s self-check on ``answer`` and show the verdict."""
    return run_check(CHECKS[n], answer)
