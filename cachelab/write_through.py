"""Write-through: every write commits to the database and updates the cache in the same call.

Two stores cannot be updated atomically without a coordinator, and Redis has none. So the
order is fixed and the failure rule is explicit: the database commits first (it is the
truth); the cache then gets the new row through a versioned write that never lets an older
row replace a newer one; if that write fails, the key is invalidated instead; if even that
fails, the caller gets :class:`CacheWriteFailed` (the database change stands). Once
:meth:`WriteThrough.update` returns normally, Redis holds the committed row, a newer one,
or nothing. Reads that miss (after the TTL, or after an invalidation) load from the database.

:class:`BriefWriteThrough` is the brief's version, kept so the notebook can show what its
"rollback" does under a cache failure and a concurrent writer.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from contextlib import nullcontext

import redis

from .aside import check_fields, read_row
from .breaker import CircuitBreaker
from .checks import row_id
from .codec import CodecError, dumps, loads
from .db import USER_FIELDS, Database
from .keys import Keys
from .metrics import Metrics
from .rowcache import RowCache
from .server import RedisProcess

__all__ = ["WriteThrough", "CacheWriteFailed", "BriefWriteThrough", "BriefRollback", "cached_row",
           "torture"]


class CacheWriteFailed(RuntimeError):
    """The database committed, but the cache could be neither updated nor invalidated.

    ``row`` is the committed row. The key is remembered and invalidated as soon as Redis
    answers again; until then this process reads it from the database.
    """

    def __init__(self, key: str, row: dict):
        super().__init__(
            f"the database committed version {row['version']} of {key}, but Redis could not be "
            "updated or invalidated (down, hung or refusing writes). The change is saved; the "
            "cache may serve the previous value to other processes until the key is invalidated "
            "(done automatically when Redis answers) or expires. Retrying the write is not needed.")
        self.key, self.row = key, row


class WriteThrough:
    """Write-through over ``db``'s users: ``update``/``write``, ``create``, ``get``/``read``.

    ``between_steps(user_id, row)``, if set, runs after the database commit and before the
    cache write: the notebook and the tests inject real faults there.
    """

    name = "write-through"

    def __init__(self, r: redis.Redis, db: Database, keys: Keys, *, ttl: float = 300,
                 spread: float = 0.1, breaker: CircuitBreaker | None = None,
                 metrics: Metrics | None = None):
        self.db = db
        self.metrics = metrics or Metrics()
        self.store = RowCache(r, keys, entity="user", ttl=ttl, spread=spread, versioned=True,
                              breaker=breaker, metrics=self.metrics)
        self.between_steps: Callable[[int, dict], None] | None = None
        self._read_latency = self.metrics.latency("read")

    @property
    def breaker(self) -> CircuitBreaker:
        """The circuit breaker guarding every Redis call."""
        return self.store.breaker

    def get(self, user_id: int) -> dict | None:
        """The user row: from the cache, else from the database (and cached again)."""
        # The brief returns None on a miss; after a TTL or an eviction that is simply wrong.
        # A miss is read like cache-aside's (no negative caching here: None is not filled).
        return read_row(self.store, self.db.get_user, user_id, self._read_latency)

    read = get

    def update(self, user_id: int, **fields: str) -> dict | None:
        """Commit ``fields`` in a transaction, then write the new row to the cache; return it."""
        key = self.store.key(row_id(user_id))
        check_fields(fields)
        start = time.perf_counter()
        sets = ", ".join(f"{f} = ?" for f in fields)
        with self.db.transaction() as tx:  # BEGIN IMMEDIATE ... COMMIT: 3 round trips
            rows = tx.query(f"UPDATE users SET {sets}, version = version + 1, updated_at = ? "  # noqa: S608
                            "WHERE id = ? RETURNING *", [*fields.values(), time.time(), user_id])
        self.metrics.incr("db_queries", 3)
        row = rows[0] if rows else None
        if row is not None:
            self._cache_after_commit(user_id, key, row)
        self.metrics.latency("write").record(time.perf_counter() - start)
        return row

    write = update

    def create(self, name: str, email: str, **fields: str) -> dict:
        """Insert a user in a transaction, then cache the new row; return it."""
        check_fields({"name": name, "email": email, **fields})
        fields = {"country": "DE", "plan": "free", **fields}  # the same defaults as db.insert_user
        cols = ["name", "email", *fields]
        with self.db.transaction() as tx:
            rows = tx.query(f"INSERT INTO users ({', '.join(cols)}, updated_at) "  # noqa: S608
                            f"VALUES ({', '.join('?' * (len(cols) + 1))}) RETURNING *",
                            [name, email, *fields.values(), time.time()])
        self.metrics.incr("db_queries", 3)
        row = rows[0]
        self._cache_after_commit(row["id"], self.store.key(row["id"]), row)
        return row

    def _cache_after_commit(self, user_id: int, key: str, row: dict) -> None:
        if self.between_steps is not None:
            self.between_steps(user_id, row)
        start = time.perf_counter()
        try:
            try:
                outcome = self.store.put(key, row, row["version"])
            except CodecError:
                outcome = "failed"  # e.g. a row over the codec's size limit: do not cache it
            if outcome == "failed":
                self.metrics.incr("cache_write_failed")
                if not self.store.invalidate(key, row["version"]):
                    self.metrics.incr("caller_told")
                    raise CacheWriteFailed(key, row)
            # "refused" is fine: a concurrent writer already cached a newer version.
        finally:
            self.metrics.latency("cache_write").record(time.perf_counter() - start)

    def __repr__(self) -> str:
        c = self.metrics.counters
        return (f"<WriteThrough ttl={self.store.ttl}s {self.breaker.state} hits={c['hits']} "
                f"misses={c['misses']} cache_write_failed={c['cache_write_failed']}>")


class BriefRollback(RuntimeError):
    """Raised by :class:`BriefWriteThrough` after its "rollback"."""


class BriefWriteThrough:
    """The brief's write-through, for demonstration only: do not use.

    Update the database (autocommit), then SET the cache; if the SET raises, write the
    original row back to the database and raise. Reads return None on a cache miss.
    """

    name = "brief write-through"

    def __init__(self, r: redis.Redis, db: Database, keys: Keys, *, ttl: float = 3600):
        self.r, self.db, self.ttl = r, db, ttl
        self.keys = keys
        self.between_steps: Callable[[int, dict], None] | None = None
        self.metrics = Metrics()

    def key(self, user_id: int) -> str:
        return self.keys("user", user_id)

    def get(self, user_id: int) -> dict | None:
        cached = self.r.get(self.key(user_id))
        if cached:
            self.metrics.incr("hits")
            return loads(cached)
        self.metrics.incr("misses")
        return None  # "cache miss should be rare (only on cold start)"

    read = get

    def update(self, user_id: int, **fields: str) -> dict | None:
        original = self.db.get_user(user_id)  # for the "rollback"
        try:
            row = self.db.update_user(user_id, **fields)
            if self.between_steps is not None:
                self.between_steps(user_id, row)
            self.r.set(self.key(user_id), dumps(row), px=round(self.ttl * 1000))
            return row
        except Exception as exc:  # the brief catches everything
            if original:
                self.db.update_user(user_id, **{f: original[f] for f in USER_FIELDS})
            self.metrics.incr("rollbacks")
            raise BriefRollback(f"write-through failed: {exc}. Rolled back DB update.") from exc

    write = update


def cached_row(pattern, user_id: int):
    """What the pattern's cache holds for a user: a row, "tombstone", "negative" or None."""
    if isinstance(pattern, BriefWriteThrough):
        raw = pattern.r.get(pattern.key(user_id))
        return None if raw is None else loads(raw)
    return pattern.store.raw(user_id)


def torture(pattern, proc: RedisProcess, db: Database, *, writes: int = 30, users: int = 5,
            seed: int = 0, faults: Sequence | None = None, progress=None) -> list[dict]:
    """``writes`` updates, each with a random real fault between the commit and the cache write.

    After each call the fault is cleared (the server answers again, so anything it queued while
    hung has run) and the cache is compared with the database. One record per write.
    ``progress`` (e.g. ``tqdm``) wraps the loop over the writes.
    """
    from .faults import between_steps, hung, refusing_writes, stopped

    faults = list(faults) if faults is not None else [None, refusing_writes, hung, stopped]
    rng = random.Random(seed)
    admin = proc.client()
    log = []
    steps = range(writes) if progress is None else progress(range(writes), desc=pattern.name)
    for i in steps:
        uid, fault = rng.randint(1, users), rng.choice(faults)
        try:
            pattern.read(uid)  # a live system has the row cached, and connections open
        except Exception:  # the brief's read may fail; not what we measure here
            pass
        name = f"write {i}"
        with between_steps(pattern, fault, proc) if fault else nullcontext():
            try:
                pattern.write(uid, name=name)
                outcome = "returned normally"
            except CacheWriteFailed:
                outcome = "caller told: cache may be stale"
            except BriefRollback:
                outcome = "rolled back, caller told: failed"
        admin.ping()  # the server is back and has run what it queued before this PING
        truth = db.get_user(uid)
        cached = cached_row(pattern, uid)
        agree = not isinstance(cached, dict) or all(cached[f] == truth[f] for f in USER_FIELDS)
        log.append({"write": i, "user": uid, "fault": getattr(fault, "__name__", "none"),
                    "outcome": outcome, "db_has_write": truth["name"] == name,
                    "cache_holds": (cached if isinstance(cached, str) or cached is None
                                    else cached["name"]),
                    "db_holds": truth["name"], "agree": agree})
    admin.close()
    return log
