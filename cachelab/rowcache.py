"""The Redis side shared by the cache patterns: JSON entries, versioned fills, tombstones, a breaker.

A cached row carries the database's ``version`` column. Fills and invalidations go through
one Lua script that never lets an older version replace a newer one, and a writer's
invalidation leaves a short *tombstone* (``\\0tomb:<version>``) instead of deleting the key,
so a reader that loaded the old row before the write cannot put it back afterwards. Every
Redis call goes through a circuit breaker: when Redis is down or hung, callers get
:data:`DOWN` at once and serve from the database.
"""

from __future__ import annotations

import threading

import redis

from . import checks
from .breaker import REDIS_DOWN, CircuitBreaker
from .checks import CachelabValueError, number
from .codec import CodecError, dumps, loads
from .keys import Keys
from .metrics import Metrics
from .ttl import check_ttl, jitter

__all__ = ["RowCache", "MISS", "DOWN", "TOMBSTONE_PREFIX", "VERSIONED_SET"]


class _Sentinel:
    __slots__ = ("name",)

    def __init__(self, name: str):
        self.name = name

    def __repr__(self) -> str:
        return self.name


MISS = _Sentinel("MISS")  # nothing usable cached: load from the database and fill
DOWN = _Sentinel("DOWN")  # Redis unavailable (or the key awaits invalidation): load, do not fill

TOMBSTONE_PREFIX = b"\x00tomb:"  # no JSON text starts with a NUL byte, so this never collides

VERSIONED_SET = """
-- Store a value or a tombstone unless the key already holds that version or a newer one.
-- KEYS[1]  the cache key
-- ARGV[1]  bytes to store: JSON of a row (with a numeric "version" field; JSON null = no such
--          row, version 0), or "\\0tomb:<version>" for a writer's invalidation
-- ARGV[2]  the version of ARGV[1] (integer)
-- ARGV[3]  time to live in milliseconds
-- ARGV[4]  "fill" (cache a row that was read or written) or "tomb" (invalidate)
-- returns  1 if stored; 0 if the key already holds this version or a newer one
local cur = redis.call('GET', KEYS[1])
local mine = tonumber(ARGV[2])
if cur then
  local have, tomb = 0, false
  if string.byte(cur, 1) == 0 then
    tomb = true
    have = tonumber(string.sub(cur, 7)) or 0
  else
    local ok, obj = pcall(cjson.decode, cur)
    if ok and type(obj) == 'table' and tonumber(obj['version']) then
      have = tonumber(obj['version'])
    end
  end
  if have > mine then return 0 end
  -- Same version: only a fill may replace a tombstone (that is how a key comes back).
  if have == mine and not (tomb and ARGV[4] == 'fill') then return 0 end
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[3])
return 1
"""


class RowCache:
    """Cached rows under ``keys(entity, id)`` with jittered TTLs, versioned writes and a breaker.

    ``versioned=False`` is the naive store (plain SET on fill, DEL on invalidate) that the
    notebooks use to reproduce the races the versioned one prevents.
    """

    def __init__(self, r: redis.Redis, keys: Keys, *, entity: str = "user", ttl: float = 300,
                 spread: float = 0.1, negative_ttl: float | None = None,
                 tombstone_ttl: float = 60, versioned: bool = True,
                 breaker: CircuitBreaker | None = None, metrics: Metrics | None = None,
                 max_pending: int = 10_000):
        if not isinstance(keys, Keys):
            raise TypeError(f"keys must be a cachelab.Keys builder, got {type(keys).__name__}")
        self.r = r
        self.keys = keys
        self.entity = entity
        self.ttl = check_ttl(ttl)
        self.negative_ttl = check_ttl(negative_ttl, allow_none=True)
        self.tombstone_ttl = check_ttl(tombstone_ttl)
        if not 0 <= number("spread", spread, low=0) < 1:
            raise CachelabValueError(f"spread is a fraction in [0, 1), got {spread!r}; "
                                     "0.1 scatters TTLs by ±10%")
        self.spread = spread
        self.versioned = versioned
        self.breaker = breaker or CircuitBreaker()
        self.metrics = metrics or Metrics()
        self.max_pending = max_pending
        self._script = r.register_script(VERSIONED_SET)
        self._prefix = keys(entity, 0)[:-1]  # "cachelab:01:user:" — int ids need no escaping
        self._pending: dict[str, int | None] = {}  # key -> version still to invalidate
        self._pending_lock = threading.Lock()
        self._replaying = threading.Lock()

    # -- keys and TTLs ------------------------------------------------------------------
    def key(self, item_id: int) -> str:
        """The cache key for one id (ints only: None, bools and strings are bugs upstream)."""
        # A 64-bit bound too: get_many() builds every key first, so an id no row can have is
        # refused before any other id of the batch is loaded and cached.
        return self._prefix + str(checks.row_id(item_id, f"{self.entity} id"))

    def ttl_ms(self, negative: bool = False) -> int:
        """A jittered TTL in milliseconds, so keys filled together do not expire together."""
        base = self.negative_ttl if negative else self.ttl
        return jitter(base * 1000, self.spread) if self.spread else max(1, round(base * 1000))

    # -- guarded Redis calls --------------------------------------------------------------
    def _ok(self) -> None:
        # Cheap when all is well; replays pending invalidations once Redis answers again.
        if self.breaker.failures or self.breaker.state is not CircuitBreaker.CLOSED:
            self.breaker.success()
        if self._pending:
            self.replay_pending()

    def _failed(self) -> None:
        self.breaker.failure()
        self.metrics.incr("redis_errors")

    def lookup(self, key: str):
        """The cached value, or :data:`MISS` (absent, tombstone, undecodable) or :data:`DOWN`."""
        if self._pending and key in self._pending:
            if self.breaker.allow():
                self.replay_pending()
            if key in self._pending:
                return DOWN  # our own write could not invalidate it: do not trust this key yet
        if not self.breaker.allow():
            self.metrics.incr("redis_skipped")
            return DOWN
        try:
            data = self.r.get(key)
        except REDIS_DOWN:
            self._failed()
            return DOWN
        except redis.ResponseError:  # e.g. WRONGTYPE or NOPERM: a cache problem, not the caller's
            self.metrics.incr("read_errors")
            return DOWN
        self._ok()
        if data is None:
            return MISS
        if data[:1] == b"\x00":
            return MISS  # a writer's tombstone
        try:
            return loads(data)
        except CodecError:
            self.metrics.incr("decode_errors")  # someone else's bytes: refill over them
            return MISS

    def lookup_many(self, keys: list[str]) -> list:
        """:meth:`lookup` for several keys in one MGET round trip."""
        if not keys:
            return []
        if not self.breaker.allow():
            self.metrics.incr("redis_skipped")
            return [DOWN] * len(keys)
        try:
            datas = self.r.mget(keys)
        except REDIS_DOWN:
            self._failed()
            return [DOWN] * len(keys)
        except redis.ResponseError:
            self.metrics.incr("read_errors")
            return [DOWN] * len(keys)
        self._ok()
        out = []
        for key, data in zip(keys, datas, strict=True):
            if self._pending and key in self._pending:
                out.append(DOWN)
            elif data is None or data[:1] == b"\x00":
                out.append(MISS)
            else:
                try:
                    out.append(loads(data))
                except CodecError:
                    self.metrics.incr("decode_errors")
                    out.append(MISS)
        return out

    def put(self, key: str, value, version: int | None = None) -> str:
        """Write ``value``: "stored", "refused" (the key holds this version or newer) or "failed".

        With ``versioned`` and a ``version``, an older version never replaces a newer one or a
        writer's tombstone for one. "failed" means Redis was down, skipped by the breaker, or
        refused the write (OOM under maxmemory/noeviction); the caller decides what that means.
        Raises CodecError for values JSON cannot hold: that is a bug in the caller, not an outage.
        """
        negative = value is None
        data = dumps(value)
        ttl = self.ttl_ms(negative)
        if not self.breaker.allow():
            self.metrics.incr("redis_skipped")
            return "failed"
        try:
            if self.versioned and (version is not None or negative):
                stored = self._script(keys=[key], args=[data, version or 0, ttl, "fill"]) == 1
            else:
                stored = bool(self.r.set(key, data, px=ttl))
        except REDIS_DOWN:
            self._failed()
            return "failed"
        except redis.ResponseError:  # Redis is up but refused the write (e.g. OOM)
            self.metrics.incr("write_errors")
            return "failed"
        self._ok()
        self.metrics.incr("fills" if stored else "fills_refused")
        return "stored" if stored else "refused"

    def fill(self, key: str, value, version: int | None = None) -> bool:
        """Cache what a reader loaded (None = "no such row", only with negative caching); True if stored.

        Best effort: a fill that fails or is refused only costs a later miss.
        """
        if value is None and self.negative_ttl is None:
            return False
        return self.put(key, value, version) == "stored"

    def invalidate(self, key: str, version: int | None = None) -> bool:
        """Make readers miss ``key``; True if Redis confirmed it.

        Versioned: a tombstone for ``version`` (older fills are refused until it expires),
        falling back to DEL if Redis refuses the write (OOM). Naive: DEL. If Redis cannot be
        reached, the key is remembered, bypassed by :meth:`lookup` in this process, and
        invalidated as soon as Redis answers again.
        """
        if self.breaker.allow():
            try:
                done = self._invalidate_now(key, version)
            except REDIS_DOWN:
                self._failed()
            else:
                if done:
                    self._ok()
                    self.metrics.incr("invalidations")
                    return True
        else:
            self.metrics.incr("redis_skipped")
        self._remember(key, version)
        return False

    def _invalidate_now(self, key: str, version: int | None) -> bool:
        if self.versioned and version is not None:
            tomb = TOMBSTONE_PREFIX + str(version).encode()
            try:
                self._script(keys=[key], args=[tomb, version, round(self.tombstone_ttl * 1000),
                                               "tomb"])
                return True  # stored, or the key already holds this version or a newer one
            except redis.ResponseError:
                pass  # OOM refuses the tombstone; DEL is always allowed
        try:
            self.r.delete(key)
            return True
        except redis.ResponseError:
            return False

    # -- invalidations that could not reach Redis ----------------------------------------
    def _remember(self, key: str, version: int | None) -> None:
        with self._pending_lock:
            if key not in self._pending and len(self._pending) >= self.max_pending:
                self.metrics.incr("pending_dropped")  # bounded: the TTL still limits staleness
                return
            old = self._pending.get(key)
            self._pending[key] = version if old is None or (version or 0) > old else old
        self.metrics.incr("invalidations_pending")

    @property
    def pending(self) -> dict[str, int | None]:
        """Keys whose invalidation has not reached Redis yet (key -> version)."""
        with self._pending_lock:
            return dict(self._pending)

    def replay_pending(self) -> int:
        """Try the remembered invalidations again; return how many went through."""
        if not self._replaying.acquire(blocking=False):
            return 0  # another thread is at it
        done = 0
        try:
            for key, version in self.pending.items():
                try:
                    if not self._invalidate_now(key, version):
                        continue
                except REDIS_DOWN:
                    self._failed()
                    break
                with self._pending_lock:
                    if self._pending.get(key) == version:
                        del self._pending[key]
                done += 1
        finally:
            self._replaying.release()
        if done:
            self.breaker.success()
            self.metrics.incr("invalidations_replayed", done)
        return done

    def raw(self, item_id: int):
        """What Redis holds for ``item_id``: the cached value, "tombstone", "negative" or None (no key)."""
        data = self.r.get(self.key(item_id))
        if data is None:
            return None
        if data[:1] == b"\x00":
            return "tombstone"
        value = loads(data)
        return "negative" if value is None else value
