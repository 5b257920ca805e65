"""Redis data structures for caching (notebook 11): hashes, counters, capped lists, sets, rankings.

Each helper that changes more than one thing does it in one atomic step (MULTI/EXEC or a Lua
script), and sets the TTL in that same step. The brief's versions are kept, named ``brief_*``,
so the notebook can show what goes wrong with them.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterable, Mapping
from typing import Any

import redis

from .checks import CachelabTypeError, CachelabValueError, count
from .codec import CodecError, dumps, loads
from .server import features
from .ttl import check_ttl

__all__ = [
    "encode_fields", "decode_fields", "put_object", "get_object", "get_fields", "update_fields",
    "put_json", "get_json", "update_json_field", "expire_fields", "field_update_race",
    "brief_cache_hash", "brief_update_field", "brief_push_recent", "brief_add_tags",
    "push_recent", "recent", "capped_list_race", "set_tags", "common_tags",
    "cache_ranking", "top", "counter_race", "COUNTER_METHODS",
]


def _ms(ttl: float) -> int:
    """TTL seconds as whole milliseconds (PEXPIRE/PX take integers; EX would drop fractions)."""
    return max(1, math.ceil(check_ttl(ttl) * 1000))


# --- hashes: one field per attribute, each value JSON ------------------------------------

def encode_fields(obj: Mapping[str, Any]) -> dict[str, bytes]:
    """Each attribute as its own JSON value, so types survive HGETALL and HINCRBY works on ints."""
    if not isinstance(obj, Mapping):
        raise TypeError(f"a hash stores a mapping of field -> value, got {type(obj).__name__}")
    if not obj:
        raise ValueError("an empty object cannot be a hash: Redis deletes a hash with no fields. "
                         "Cache a marker value (e.g. {'_empty': True}) or use a string key.")
    out: dict[str, bytes] = {}
    for field, value in obj.items():
        if not isinstance(field, str) or not field:
            raise TypeError(f"hash field names must be non-empty str, got {field!r}")
        try:
            out[field] = dumps(value)
        except CodecError as exc:
            raise CodecError(f"field {field!r}: {exc}") from None
    return out


def decode_fields(raw: Mapping[bytes | str, bytes | str]) -> dict[str, Any]:
    """The inverse of :func:`encode_fields` for an HGETALL/HMGET reply."""
    out: dict[str, Any] = {}
    for field, value in raw.items():
        name = field.decode() if isinstance(field, bytes) else field
        out[name] = loads(value)
    return out


def put_object(r: redis.Redis, key: str, obj: Mapping[str, Any], ttl: float) -> None:
    """Replace the cached object with ``obj`` and its TTL, in one MULTI/EXEC.

    DEL first, so fields the new version no longer has do not linger; EXPIRE in the same
    transaction, so no reader ever sees the object without a TTL.
    """
    fields = encode_fields(obj)
    pipe = r.pipeline(transaction=True)
    pipe.delete(key)
    pipe.hset(key, mapping=fields)
    pipe.pexpire(key, _ms(ttl))
    pipe.execute()


def get_object(r: redis.Redis, key: str) -> dict[str, Any] | None:
    """The whole cached object, decoded; None when it is not cached (HGETALL gives {} then)."""
    raw = r.hgetall(key)
    return decode_fields(raw) if raw else None


def get_fields(r: redis.Redis, key: str, *fields: str) -> dict[str, Any] | None:
    """Some fields of a cached object (HMGET); None when the object is not cached.

    A field the object lacks comes back as None. EXISTS rides in the same MULTI so that
    "not cached" and "cached without those fields" stay apart.
    """
    if not fields:
        raise ValueError("name at least one field")
    pipe = r.pipeline(transaction=True)
    pipe.exists(key)
    pipe.hmget(key, list(fields))
    exists, values = pipe.execute()
    if not exists:
        return None
    return {f: (None if v is None else loads(v)) for f, v in zip(fields, values, strict=True)}


# KEYS[1]: the cached object (a hash)
# ARGV[1]: new TTL in milliseconds, or "0" to keep the TTL the key has
# ARGV[2..]: field, value, field, value, ...
# Returns 1 when the object was cached and updated, 0 when it was missing (nothing written).
_UPDATE_IF_CACHED = """
if redis.call('EXISTS', KEYS[1]) == 0 then
  return 0
end
for i = 2, #ARGV, 2 do
  redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
end
if tonumber(ARGV[1]) > 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
end
return 1
"""


_scripts: dict[str, Any] = {}


def _script(name: str, source: str, r: redis.Redis):
    # EVALSHA after the first call: the server keeps the script, we send its 40-byte SHA.
    # Always called with client=r, which reloads it if the server forgot it (NOSCRIPT).
    if name not in _scripts:
        _scripts[name] = r.register_script(source)
    return _scripts[name]


def update_fields(r: redis.Redis, key: str, fields: Mapping[str, Any], *,
                  refresh_ttl: float | None = None) -> bool:
    """Change some fields of a cached object without reading it; False if it is not cached.

    A missing object stays missing: writing one field would create a partial object with no
    TTL, which later reads would take for the whole thing. HSET never touches the key's TTL;
    pass ``refresh_ttl`` to restart it in the same atomic step.
    """
    if isinstance(fields, Mapping) and not fields:
        raise ValueError("name at least one field to update")
    encoded = encode_fields(fields)
    ttl_ms = 0 if refresh_ttl is None else _ms(refresh_ttl)
    args: list = [ttl_ms]
    for field, value in encoded.items():
        args += [field, value]
    return bool(_script("update_if_cached", _UPDATE_IF_CACHED, r)(keys=[key], args=args, client=r))


def expire_fields(r: redis.Redis, key: str, ttl: float, *fields: str) -> list[int] | None:
    """Per-field TTL with HPEXPIRE (Redis >= 7.4); None when the server has no such command.

    Replies per field: 1 set, -2 no such field, 2 deleted at once. Older servers only expire
    whole keys: keep fields that need their own lifetime in keys of their own.
    """
    if not fields:
        raise ValueError("name at least one field")
    ms = _ms(ttl)  # checked even where the server cannot expire fields: the call is wrong anyway
    if not features(r)["hexpire"]:
        return None
    return [int(x) for x in r.hpexpire(key, ms, *fields)]


# --- the same object as one JSON string ----------------------------------------------------

def put_json(r: redis.Redis, key: str, obj: Any, ttl: float) -> None:
    """Cache ``obj`` as one JSON string with a TTL (SET PX, one command)."""
    r.set(key, dumps(obj), px=_ms(ttl))


def get_json(r: redis.Redis, key: str) -> Any | None:
    """The cached JSON object, or None when it is not cached."""
    raw = r.get(key)
    return None if raw is None else loads(raw)


def update_json_field(r: redis.Redis, key: str, field: str, value: Any, *,
                      keep_ttl: bool = True) -> bool:
    """Change one attribute of a JSON-string object: GET, change in Python, SET back.

    A read-modify-write: two clients doing it at once overwrite each other's changes. And a
    plain SET clears the key's TTL; ``keep_ttl`` (SET KEEPTTL, Redis >= 6) keeps it.
    """
    if not isinstance(field, str):  # JSON object keys are str: None would be stored as "null"
        raise CachelabTypeError(f"field must be a str (a JSON attribute name), got "
                                f"{type(field).__name__} {field!r:.60}")
    raw = r.get(key)
    if raw is None:
        return False
    obj = loads(raw)
    obj[field] = value
    r.set(key, dumps(obj), keepttl=keep_ttl)
    return True


def field_update_race(r: redis.Redis, key: str, *, threads: int = 4, updates: int = 200,
                      layout: str = "hash") -> dict:
    """Each thread bumps its own field ``updates`` times; count the bumps that were lost.

    ``layout="json"``: the object is one JSON string and every bump is a GET/SET of all of
    it, so threads overwrite each other's fields. ``layout="hash"``: every bump writes only
    that thread's field (HGET/HSET of one field), so nothing is lost even without atomicity.
    """
    if layout not in ("hash", "json"):
        raise ValueError("layout must be 'hash' or 'json'")
    names = [f"f{t}" for t in range(threads)]
    start = {name: 0 for name in names}
    if layout == "json":
        put_json(r, key, start, ttl=300)
    else:
        put_object(r, key, start, ttl=300)
    barrier = threading.Barrier(threads)

    def work(name: str) -> None:
        barrier.wait()
        for _ in range(updates):
            if layout == "json":
                obj = loads(r.get(key))
                obj[name] += 1
                r.set(key, dumps(obj), keepttl=True)
            else:
                r.hset(key, name, dumps(loads(r.hget(key, name)) + 1))

    _run_threads(work, names)
    final = get_json(r, key) if layout == "json" else get_object(r, key)
    expected = threads * updates
    counted = sum(final[name] for name in names)
    return {"layout": layout, "threads": threads, "expected": expected, "counted": counted,
            "lost": expected - counted, "per_field": [final[n] for n in names]}


def _run_threads(fn, args: Iterable) -> None:
    errors: list[BaseException] = []

    def wrapped(arg):
        try:
            fn(arg)
        except BaseException as exc:  # surface a worker's failure instead of a wrong count
            errors.append(exc)

    workers = [threading.Thread(target=wrapped, args=(a,)) for a in args]
    for t in workers:
        t.start()
    for t in workers:
        t.join()
    if errors:
        raise errors[0]


# --- the brief's helpers, kept to show what goes wrong ------------------------------------

def brief_cache_hash(r: redis.Redis, key: str, obj: Mapping, ttl: int = 3600) -> None:
    """The brief: HSET then EXPIRE, two round trips; old fields are merged, not replaced."""
    r.hset(key, mapping=obj)
    r.expire(key, ttl)


def brief_update_field(r: redis.Redis, key: str, field: str, value) -> None:
    """The brief: a bare HSET. On an expired object it creates a one-field hash with no TTL."""
    r.hset(key, field, value)


def brief_push_recent(r: redis.Redis, key: str, item, cap: int = 100, ttl: int = 86400) -> None:
    """The brief: LPUSH, LTRIM, EXPIRE as three round trips; others see the list in between."""
    r.lpush(key, item)
    r.ltrim(key, 0, cap - 1)
    r.expire(key, ttl)


def brief_add_tags(r: redis.Redis, key: str, tags: Iterable[str], ttl: int = 3600) -> None:
    """The brief: SADD then EXPIRE; a tag removed at the source stays in the cached set."""
    r.sadd(key, *tags)
    r.expire(key, ttl)


# --- lists, sets, sorted sets --------------------------------------------------------------

def _check_cap(cap) -> int:
    # LTRIM takes a signed 64-bit index; far below that, a list this long would not fit in RAM.
    return count("cap", cap, high=10**9, hint=" (the most items the list keeps)")


def push_recent(r: redis.Redis, key: str, item: str | int, *, cap: int, ttl: float) -> int:
    """Push ``item`` on a capped recent-items list: LPUSH + LTRIM + PEXPIRE in one MULTI/EXEC.

    Returns the list's length after the push (never more than ``cap``).
    """
    _check_cap(cap)
    if isinstance(item, bool) or not isinstance(item, (str, int)):
        raise TypeError(f"list items are str or int ids, got {type(item).__name__}")
    pipe = r.pipeline(transaction=True)
    pipe.lpush(key, item)
    pipe.ltrim(key, 0, cap - 1)
    pipe.pexpire(key, _ms(ttl))
    pipe.llen(key)
    return pipe.execute()[-1]


def recent(r: redis.Redis, key: str, n: int | None = None) -> list[str]:
    """The newest ``n`` items (all when None), newest first, as str."""
    end = -1 if n is None else count("n", n, high=10**9, hint=" (or None for all)") - 1
    return [x.decode() if isinstance(x, bytes) else x for x in r.lrange(key, 0, end)]


def capped_list_race(r: redis.Redis, key: str, *, pushers: int = 4, pushes: int = 200,
                     cap: int = 10, ttl: float = 300, atomic: bool = True) -> dict:
    """Several threads push while an observer samples LLEN and TTL; report what it saw.

    With the brief's three calls the observer catches the list over its cap (between a
    LPUSH and its LTRIM) and, on a fresh key, with no TTL; with MULTI/EXEC it never does.
    """
    _check_cap(cap)
    r.delete(key)
    done = threading.Event()
    seen = {"samples": 0, "max_len": 0, "over_cap": 0, "no_ttl": 0}

    def observe() -> None:
        while not done.is_set():
            pipe = r.pipeline(transaction=True)  # LLEN and TTL at one instant
            pipe.llen(key)
            pipe.pttl(key)
            length, pttl = pipe.execute()
            seen["samples"] += 1
            seen["max_len"] = max(seen["max_len"], length)
            seen["over_cap"] += length > cap
            seen["no_ttl"] += pttl == -1  # exists, but would never expire

    def push(worker: int) -> None:
        for i in range(pushes):
            item = f"{worker}:{i}"
            if atomic:
                push_recent(r, key, item, cap=cap, ttl=ttl)
            else:
                brief_push_recent(r, key, item, cap=cap, ttl=math.ceil(ttl))
            if i % 50 == 49 and worker == 0:
                r.delete(key)  # as if the list expired: the next push starts a fresh key

    observer = threading.Thread(target=observe)
    observer.start()
    try:
        _run_threads(push, range(pushers))
    finally:
        done.set()
        observer.join()
    return {"atomic": atomic, "cap": cap, "pushes": pushers * pushes, **seen,
            "final_len": r.llen(key), "final_ttl_ms": r.pttl(key)}


def set_tags(r: redis.Redis, key: str, tags: Iterable[str], ttl: float) -> None:
    """Replace the cached tag set (DEL + SADD + PEXPIRE in one MULTI); no tags deletes it."""
    tags = list(tags)
    for tag in tags:
        if not isinstance(tag, str) or not tag:
            raise TypeError(f"tags are non-empty str, got {tag!r}")
    pipe = r.pipeline(transaction=True)
    pipe.delete(key)
    if tags:  # Redis has no empty sets: no tags means no key
        pipe.sadd(key, *tags)
        pipe.pexpire(key, _ms(ttl))
    pipe.execute()


def common_tags(r: redis.Redis, *keys: str) -> set[str]:
    """Tags every one of ``keys`` has (SINTER, computed inside Redis)."""
    if len(keys) < 1:
        raise ValueError("name at least one tag set")
    return {t.decode() if isinstance(t, bytes) else t for t in r.sinter(list(keys))}


def cache_ranking(r: redis.Redis, key: str, scores: Mapping[str, float], ttl: float) -> int:
    """Replace a cached ranking (DEL + ZADD + PEXPIRE in one MULTI); returns its size."""
    clean: dict[str, float] = {}
    for member, score in scores.items():
        # ±inf is a valid sorted-set score (a pinned first or last place); NaN is not.
        if isinstance(score, bool) or not isinstance(score, (int, float)):
            raise CachelabTypeError(f"score for {member!r:.40} must be a number, got {score!r:.40}")
        if score != score or (isinstance(score, int) and abs(score) > 1e308):  # NaN; float() overflow
            raise CachelabValueError(f"score for {member!r:.40} must be a float or ±inf, got "
                                     f"{score!r:.40}")
        clean[str(member)] = float(score)
    pipe = r.pipeline(transaction=True)
    pipe.delete(key)
    if clean:
        pipe.zadd(key, clean)
        pipe.pexpire(key, _ms(ttl))
    pipe.execute()
    return len(clean)


def top(r: redis.Redis, key: str, n: int = 10) -> list[tuple[str, float]]:
    """The ``n`` highest-scored members with their scores (ZREVRANGE ... WITHSCORES)."""
    count("n", n, high=10**9, hint=" (how many of the top members)")
    return [(m.decode() if isinstance(m, bytes) else m, s)
            for m, s in r.zrevrange(key, 0, n - 1, withscores=True)]


# --- counters ------------------------------------------------------------------------------

COUNTER_METHODS = ("python", "incr", "hincrby", "watch")


def _bump(r: redis.Redis, key: str, method: str) -> int:
    """One increment by ``method``; returns how many optimistic retries it needed."""
    if method == "python":  # the read-modify-write: two round trips with a gap between
        value = int(r.get(key) or 0)
        r.set(key, value + 1)
    elif method == "incr":
        r.incr(key)
    elif method == "hincrby":
        r.hincrby(key, "count", 1)
    else:  # WATCH/MULTI: the read-modify-write made safe by retrying on conflict
        retries = 0
        with r.pipeline() as pipe:
            while True:
                try:
                    pipe.watch(key)
                    value = int(pipe.get(key) or 0)
                    pipe.multi()
                    pipe.set(key, value + 1)
                    pipe.execute()
                    return retries
                except redis.WatchError:
                    retries += 1
    return 0


def counter_race(r: redis.Redis, key: str, *, method: str = "incr", threads: int = 8,
                 per_thread: int = 200) -> dict:
    """``threads`` threads each add 1, ``per_thread`` times; count the increments that were lost."""
    if method not in COUNTER_METHODS:
        raise ValueError(f"method must be one of {COUNTER_METHODS}, got {method!r}")
    count("threads", threads, high=256)
    count("per_thread", per_thread, high=10**6)
    r.delete(key)
    barrier = threading.Barrier(threads)
    retries = [0] * threads

    def work(t: int) -> None:
        barrier.wait()
        for _ in range(per_thread):
            retries[t] += _bump(r, key, method)

    _run_threads(work, range(threads))
    final = int(r.hget(key, "count") or 0) if method == "hincrby" else int(r.get(key) or 0)
    expected = threads * per_thread
    return {"method": method, "threads": threads, "expected": expected, "final": final,
            "lost": expected - final, "retries": sum(retries)}
