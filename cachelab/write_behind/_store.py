"""What both write-behind variants share: the cached record, its Lua scripts, the upsert.

A user is cached as a Redis hash, one JSON-encoded value per column. A partial update is an
HSET of just those fields, so it *merges* into the cached object instead of replacing it.
Every write bumps the record's ``version``; the database upsert only applies a row whose
version is newer than the stored one, which makes a replayed or reordered write harmless.

While a record has writes the database does not have yet it is *dirty* and carries no TTL:
it cannot expire (and under a ``volatile-*`` policy it cannot be evicted) before the
database catches up. Once a flush commits its version, the record gets its TTL back.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence

import redis

from ..codec import CodecError, dumps, loads
from ..db import USER_FIELDS, Database
from ..keys import Keys
from ..ttl import check_ttl

__all__ = ["COLUMNS", "RecordStore", "check_user_id", "check_fields", "upsert_users",
           "coalesce", "decode_record"]

COLUMNS = ("id", "name", "email", "country", "plan", "version", "updated_at")

# KEYS[1] the record's hash; KEYS[2] (optional) the stream to enqueue the new state on
# ARGV[1] record id; ARGV[2] updated_at (JSON); ARGV[3] mode: "update" (the record must be
# cached), "create" (update, or start a new record if it is not cached), "insert" (it must not be)
# ARGV[4..] field, JSON value pairs to merge in
# returns: the merged record as a flat [field, value, ...] array, left dirty (no TTL);
#          false if "update" finds no record; the error EXISTS if "insert" finds one
_MERGE = """
if redis.call('EXISTS', KEYS[1]) == 0 then
  if ARGV[3] == 'update' then return false end
  redis.call('HSET', KEYS[1], 'id', ARGV[1], 'version', 0)
elseif ARGV[3] == 'insert' then
  return redis.error_reply('EXISTS the record is cached already')
end
for i = 4, #ARGV, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
redis.call('HSET', KEYS[1], 'updated_at', ARGV[2])
redis.call('HINCRBY', KEYS[1], 'version', 1)
redis.call('PERSIST', KEYS[1])
local record = redis.call('HGETALL', KEYS[1])
if #KEYS > 1 then redis.call('XADD', KEYS[2], '*', unpack(record)) end
return record
"""

# KEYS[1] the record's hash; ARGV[1] TTL in seconds; ARGV[2..] field, JSON value pairs
# returns: 1 if the record was cached now, 0 if it was already cached (that copy may be newer)
_SEED = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV, 2))
redis.call('EXPIRE', KEYS[1], ARGV[1])
return 1
"""

# KEYS[1..n] record hashes; ARGV[1] TTL in seconds; ARGV[2..n+1] the version each one committed
# returns: how many records became clean (got their TTL back); a record written again since
#          the flush keeps no TTL, because its newer version is still on its way
_MARK_CLEAN = """
local clean = 0
for i, key in ipairs(KEYS) do
  if redis.call('HGET', key, 'version') == ARGV[i + 1] then
    redis.call('EXPIRE', key, ARGV[1])
    clean = clean + 1
  end
end
return clean
"""

# KEYS[1] a record hash; ARGV[1] a version the database refused for good
# returns: 1 if the cached copy (that exact version) was dropped, so reads see the database again
_DROP_VERSION = """
if redis.call('HGET', KEYS[1], 'version') == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


def check_user_id(user_id) -> int:
    """Return ``user_id`` if it is an int; raise a clear TypeError otherwise (None included)."""
    if isinstance(user_id, bool) or not isinstance(user_id, int):
        raise TypeError(f"user id must be an int, got {type(user_id).__name__} {user_id!r}; "
                        "a None id usually means the caller lost track of which record it edits")
    return user_id


def check_fields(fields: Mapping) -> dict:
    """Validate a partial update: known columns, JSON-encodable str values; raise clearly."""
    if not fields:
        raise ValueError(f"nothing to write: pass some of {USER_FIELDS} as keyword arguments")
    managed = {"id", "version", "updated_at"} & set(fields)
    if managed:
        raise ValueError(f"{sorted(managed)} are managed by the cache (each write bumps the "
                         "version and stamps updated_at); leave them out")
    unknown = set(fields) - set(USER_FIELDS)
    if unknown:
        raise ValueError(f"unknown field(s) {sorted(unknown)}; a user has {USER_FIELDS}")
    for name, value in fields.items():
        try:
            dumps(value)
        except CodecError as exc:
            raise CodecError(f"field {name!r}: {exc}") from None
        if not isinstance(value, str) or not value:
            raise TypeError(f"field {name!r} must be a non-empty str (the column is TEXT NOT "
                            f"NULL), got {type(value).__name__} {value!r}")
    return dict(fields)


def decode_record(flat: Sequence | Mapping) -> dict:
    """A record from HGETALL or a stream entry (field -> JSON) as a plain dict."""
    pairs = flat.items() if isinstance(flat, Mapping) else zip(flat[::2], flat[1::2], strict=True)
    out = {}
    for k, v in pairs:
        out[k.decode() if isinstance(k, bytes) else k] = loads(v)
    return out


def coalesce(records: Iterable[dict]) -> dict[int, dict]:
    """Keep only the newest version of each record: the one state the database needs."""
    latest: dict[int, dict] = {}
    for rec in records:
        have = latest.get(rec["id"])
        if have is None or rec["version"] > have["version"]:
            latest[rec["id"]] = rec
    return latest


def upsert_users(db: Database, rows: Sequence[dict]) -> list[int]:
    """Write full rows in ONE statement; only rows newer than the stored version apply.

    Returns the ids that changed. A replayed row (same or older version) changes nothing,
    which is what makes redelivery after a crash safe.
    """
    if not rows:
        return []
    marks = ",".join(["(" + ",".join("?" * len(COLUMNS)) + ")"] * len(rows))
    params = [row[c] for row in rows for c in COLUMNS]
    sets = ", ".join(f"{c} = excluded.{c}" for c in COLUMNS[1:])
    sql = (f"INSERT INTO users ({', '.join(COLUMNS)}) VALUES {marks} "  # noqa: S608
           f"ON CONFLICT(id) DO UPDATE SET {sets} WHERE excluded.version > users.version "
           "RETURNING id")
    return [row["id"] for row in db.query(sql, params)]


class RecordStore:
    """The cached users: read, merge a partial update, mark clean, drop a refused version."""

    def __init__(self, r: redis.Redis, keys: Keys, ttl: float = 300):
        self.r, self.keys = r, keys
        self.ttl = int(max(1, round(check_ttl(ttl))))
        self._merge = r.register_script(_MERGE)
        self._seed = r.register_script(_SEED)
        self._mark_clean = r.register_script(_MARK_CLEAN)
        self._drop = r.register_script(_DROP_VERSION)

    def key(self, user_id: int) -> str:
        """The hash that caches one user."""
        return self.keys("user", check_user_id(user_id))

    def get(self, user_id: int) -> dict | None:
        """The cached record, or None if it is not cached."""
        flat = self.r.hgetall(self.key(user_id))
        return decode_record(flat) if flat else None

    def seed(self, row: dict) -> bool:
        """Cache a row loaded from the database unless a (possibly newer) copy is there."""
        args = [self.ttl]
        for c in COLUMNS:
            args += [c, dumps(row[c])]
        return bool(self._seed(keys=[self.key(row["id"])], args=args))

    def merge(self, user_id: int, fields: dict, *, stream: str | None = None,
              mode: str = "update") -> dict | None:
        """Merge ``fields`` into the cached record (and enqueue it); None if not cached."""
        args = [user_id, dumps(time.time()), mode]
        for name, value in fields.items():
            args += [name, dumps(value)]
        keys = [self.key(user_id)] + ([stream] if stream else [])
        flat = self._merge(keys=keys, args=args)
        return decode_record(flat) if flat else None

    def mark_clean(self, committed: Mapping[int, int]) -> int:
        """Give each record whose cached version equals the committed one its TTL back."""
        if not committed:
            return 0
        ids = list(committed)
        return int(self._mark_clean(keys=[self.key(i) for i in ids],
                                    args=[self.ttl, *(committed[i] for i in ids)]))

    def drop_version(self, user_id: int, version: int) -> bool:
        """Forget a cached version the database refused, so reads fall back to the database."""
        return bool(self._drop(keys=[self.key(user_id)], args=[version]))


def missing_required(fields: Mapping) -> list[str]:
    """Columns a brand-new user still lacks."""
    return [f for f in USER_FIELDS if f not in fields]


def read_record(store: RecordStore, db: Database, user_id: int, metrics) -> dict | None:
    """Cache first; on a miss load the row and cache it (a clean record, with its TTL)."""
    rec = store.get(user_id)
    if rec is not None:
        metrics.incr("hits")
        return rec
    metrics.incr("misses")
    metrics.incr("db_queries")
    row = db.get_user(user_id)
    if row is not None:
        store.seed(row)
    return row


def write_record(store: RecordStore, db: Database, user_id: int, fields: dict, metrics, *,
                 stream: str | None = None) -> dict:
    """Merge a partial update into the cached record, loading it first if it is not cached."""
    check_user_id(user_id)
    fields = check_fields(fields)
    for _ in range(5):
        rec = store.merge(user_id, fields, stream=stream)
        if rec is not None:
            return rec
        # Not cached, so not dirty either: the database holds the latest state to merge into.
        metrics.incr("db_queries")
        metrics.incr("write_misses")
        row = db.get_user(user_id)
        if row is None:
            missing = missing_required(fields)
            if missing:
                raise LookupError(f"user {user_id} is in neither the cache nor the database; "
                                  f"to create it pass every field ({', '.join(missing)} missing)")
            return store.merge(user_id, fields, stream=stream, mode="create")
        store.seed(row)
    raise RuntimeError(f"user {user_id}'s cached record expired five times while being "
                       "updated; is the TTL far too short?")


def insert_record(store: RecordStore, user_id: int, fields: dict, *,
                  stream: str | None = None) -> dict:
    """Start a new record for an id the caller just allocated: no database read at all.

    The caller promises the id is new. If the database already has a row with this id, the
    versioned upsert keeps the stored row (it is not older) and the worker counts it skipped.
    """
    check_user_id(user_id)
    fields = check_fields(fields)
    missing = missing_required(fields)
    if missing:
        raise ValueError(f"a new user needs every field; {', '.join(missing)} missing")
    try:
        return store.merge(user_id, fields, stream=stream, mode="insert")
    except redis.ResponseError as exc:
        if "EXISTS" in str(exc):
            raise ValueError(f"user {user_id} is cached already: use write() to update it") from None
        raise
