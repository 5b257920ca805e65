"""Cache-aside (lazy loading): the application reads Redis, falls back to the database, and fills.

:class:`CacheAside` does it for the ``users`` table with hit/miss/DB-query metrics, jittered
TTLs, opt-in negative caching, race-free invalidation (versioned fills and tombstones, see
:mod:`cachelab.rowcache`) and a circuit breaker, so a Redis outage costs a database query
per read instead of an error. :func:`cached` is the same read path as a decorator that
reuses one client for every call.
"""

from __future__ import annotations

import functools
import inspect
import string
import threading
import time
from collections.abc import Callable
from typing import Any

import redis

from .breaker import CircuitBreaker
from .codec import CodecError
from .db import USER_FIELDS, Database
from .keys import Keys
from .metrics import LatencyRecorder, Metrics
from .rowcache import DOWN, MISS, RowCache
from .server import RedisUnavailable
from .ttl import check_ttl

__all__ = ["CacheAside", "cached", "check_fields", "race_once", "read_row", "shared_client"]


def check_fields(fields: dict) -> dict:
    """Validate an update of the users table: some of USER_FIELDS, each a str."""
    bad = set(fields) - set(USER_FIELDS)
    if bad or not fields:
        raise ValueError(f"an update takes some of {USER_FIELDS}, got {sorted(fields)}")
    for name, value in fields.items():
        if not isinstance(value, str):
            raise TypeError(f"{name} must be a str, got {type(value).__name__} {value!r}")
    return fields


def read_row(store: RowCache, load: Callable[[int], dict | None], row_id: int,
             latency: LatencyRecorder, before_fill: Callable[[int, dict | None], None] | None = None,
             ) -> dict | None:
    """The cache-aside read of one versioned row: a hit, or ``load(row_id)`` and a fill.

    A miss fills with the row's version (0 for "no such row"); when Redis is down the row is
    loaded but not filled. Counts hits, misses, fallbacks and db_queries in ``store.metrics``.
    """
    key = store.key(row_id)
    metrics = store.metrics
    start = time.perf_counter()
    value = store.lookup(key)
    if value is MISS or value is DOWN:
        metrics.incr("misses" if value is MISS else "fallbacks")
        row = load(row_id)
        metrics.incr("db_queries")
        if value is MISS:
            if before_fill is not None:
                before_fill(row_id, row)
            store.fill(key, row, row["version"] if row else 0)
    else:
        metrics.incr("hits")
        if value is None:
            metrics.incr("negative_hits")
        row = value
    latency.record(time.perf_counter() - start)
    return row


class CacheAside:
    """Cache-aside over ``db``'s users: ``get``/``read`` and ``update``/``write``, with metrics.

    ``versioned=False`` and ``negative_ttl=None`` give the brief's behaviour (the notebook
    reproduces its race and its penetration problem with them); ``invalidate=False`` leaves
    freshness to the TTL alone. ``before_fill(user_id, row)``, if set, runs between "read the
    database" and "write the cache" — the window where the race lives.
    """

    name = "cache-aside"

    def __init__(self, r: redis.Redis, db: Database, keys: Keys, *, ttl: float = 300,
                 spread: float = 0.1, negative_ttl: float | None = None, versioned: bool = True,
                 invalidate: bool = True, breaker: CircuitBreaker | None = None,
                 metrics: Metrics | None = None):
        self.db = db
        self.metrics = metrics or Metrics()
        self.store = RowCache(r, keys, entity="user", ttl=ttl, spread=spread,
                              negative_ttl=negative_ttl, versioned=versioned, breaker=breaker,
                              metrics=self.metrics)
        self.invalidate = invalidate
        self.before_fill: Callable[[int, dict | None], None] | None = None
        self._read_latency = self.metrics.latency("read")
        self._write_latency = self.metrics.latency("write")

    @property
    def breaker(self) -> CircuitBreaker:
        """The circuit breaker guarding every Redis call."""
        return self.store.breaker

    def get(self, user_id: int) -> dict | None:
        """The user row (None if there is no such user): from Redis if cached, else the database."""
        return read_row(self.store, self.db.get_user, user_id, self._read_latency,
                        self.before_fill)

    read = get

    def update(self, user_id: int, **fields: str) -> dict | None:
        """Commit the change to the database, then invalidate the cached row; return the new row."""
        key = self.store.key(user_id)
        check_fields(fields)
        start = time.perf_counter()
        row = self.db.update_user(user_id, **fields)  # the database first: it is the truth
        self.metrics.incr("db_queries")
        if row is not None and self.invalidate:
            self.store.invalidate(key, row["version"])
        self._write_latency.record(time.perf_counter() - start)
        return row

    write = update

    def create(self, name: str, email: str, *, user_id: int | None = None, **fields: str) -> dict:
        """Insert a user, then invalidate its key (a negative entry may be cached for the id)."""
        check_fields({"name": name, "email": email, **fields})
        row = self.db.insert_user(name, email, user_id=user_id, **fields)
        self.metrics.incr("db_queries")
        self.store.invalidate(self.store.key(row["id"]), row["version"])
        return row

    def __repr__(self) -> str:
        s = self.store
        return (f"<CacheAside ttl={s.ttl}s negative_ttl={s.negative_ttl} versioned={s.versioned} "
                f"{self.breaker.state} hits={self.metrics.counters['hits']} "
                f"misses={self.metrics.counters['misses']}>")


def race_once(cache, user_id: int, **fields: str) -> dict:
    """Play the read/update race once, deterministically, and report what the cache ends with.

    A reader misses and loads the row, then is held (``cache.before_fill``) while a writer
    commits ``fields`` and invalidates; then the reader goes on and fills. Works with any
    pattern that has ``store``, ``before_fill``, ``get`` and ``update``.
    """
    fields = fields or {"plan": "team"}
    if cache.db.get_user(user_id) is None:
        raise ValueError(f"race_once needs an existing user id; there is no user {user_id}")
    cache.store.r.delete(cache.store.key(user_id))  # start from a miss
    loaded, resume = threading.Event(), threading.Event()
    seen: dict = {}

    def hold(uid: int, row: dict | None) -> None:
        if threading.current_thread().name == "slow-reader":
            seen["version"] = row["version"] if row else None
            loaded.set()
            resume.wait(10)

    old_hook, cache.before_fill = cache.before_fill, hold
    try:
        reader = threading.Thread(target=cache.get, args=(user_id,), name="slow-reader")
        reader.start()
        if not loaded.wait(10):
            raise RuntimeError("the reader never reached the database; is Redis up?")
        written = cache.update(user_id, **fields)  # commit + invalidate while the reader waits
        resume.set()
        reader.join(10)
    finally:
        cache.before_fill = old_hook
    raw = cache.store.raw(user_id)
    db_version = cache.db.get_user(user_id)["version"]
    cached_version = raw["version"] if isinstance(raw, dict) else None
    return {"reader_loaded": seen.get("version"), "writer_committed": written["version"],
            "db_version": db_version, "cache_holds": raw if isinstance(raw, str) else
            ("nothing" if raw is None else f"version {cached_version}"),
            "cached_version": cached_version,
            "stale": cached_version is not None and cached_version < db_version,
            "next_read_version": cache.get(user_id)["version"]}


# --- the decorator ---------------------------------------------------------------------

_shared: redis.Redis | None = None
_shared_lock = threading.Lock()


def shared_client() -> redis.Redis:
    """One client (one connection pool) for every :func:`cached` function in this process.

    Short timeouts: a hung server costs a cached call half a second, not ten.
    """
    global _shared
    with _shared_lock:
        if _shared is None:
            from .server import connect

            _shared = connect(socket_timeout=0.5, socket_connect_timeout=0.5)
        return _shared


def _template_parts(template: str, fn: Callable) -> tuple[list[str], set[str]]:
    params = inspect.signature(fn).parameters
    parts = template.split(":")
    names: set[str] = set()
    for part in parts:
        for _, field, spec, conv in string.Formatter().parse(part):
            if field is None:
                continue
            if field not in params:
                raise ValueError(f"key template {template!r} names {{{field}}}, but "
                                 f"{fn.__qualname__}() has no parameter {field!r}; "
                                 f"its parameters are {list(params)}")
            if spec or conv:
                raise ValueError(f"key template {template!r}: write {{{field}}} without "
                                 "format specs or conversions")
            names.add(field)
    if not all(parts):
        raise ValueError(f"key template {template!r} has an empty part")
    return parts, names


def _key_value(name: str, value: Any) -> str | int:
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise TypeError(f"cache key argument {name}={value!r} is a {type(value).__name__}; "
                        "key arguments must be str or int (not None)")
    return value


def cached(key: str | Callable[..., Any], ttl: float, *, client: redis.Redis | None = None,
           keys: Keys | None = None, negative_ttl: float | None = None, spread: float = 0.1,
           breaker: CircuitBreaker | None = None) -> Callable[[Callable], Callable]:
    """Cache-aside as a decorator: ``@cached(key="user:{user_id}", ttl=60)``.

    ``key`` is a template whose ``{fields}`` name the function's parameters (each value is
    escaped into one key part), or a callable taking the same arguments and returning a str,
    an int or a tuple of parts. Every decorated function uses ``client``, or one shared
    pooled client created on first use — never a connection per call. Results must be JSON;
    ``None`` is cached only with ``negative_ttl``. Redis errors fall back to calling the
    function. The wrapper has ``.metrics``, ``.key_for(*args)`` and ``.invalidate(*args)``.
    """
    check_ttl(ttl)
    check_ttl(negative_ttl, allow_none=True)
    if not (isinstance(key, str) or callable(key)):
        raise TypeError(f"key must be a template str like 'user:{{user_id}}' or a callable, "
                        f"got {type(key).__name__} {key!r}")
    if isinstance(keys, Keys) or keys is None:
        builder = keys or Keys("cached")
    else:
        raise TypeError(f"keys must be a cachelab.Keys builder, got {type(keys).__name__}")

    def decorate(fn: Callable) -> Callable:
        sig = inspect.signature(fn)
        parts, names = _template_parts(key, fn) if isinstance(key, str) else (None, set())
        metrics = Metrics()
        state: dict[str, RowCache] = {}
        lock = threading.Lock()

        def store() -> RowCache:
            if "store" not in state:
                with lock:
                    if "store" not in state:
                        state["store"] = RowCache(client or shared_client(), builder, ttl=ttl,
                                                  spread=spread, negative_ttl=negative_ttl,
                                                  versioned=False, breaker=breaker,
                                                  metrics=metrics)
            return state["store"]

        def key_for(*args, **kwargs) -> str:
            bound = sig.bind(*args, **kwargs)
            bound.apply_defaults()
            values = bound.arguments
            if parts is not None:
                fields = {n: _key_value(n, values[n]) for n in names}
                return builder(*(p.format_map(fields) for p in parts))
            made = key(*args, **kwargs)
            made = made if isinstance(made, tuple) else (made,)
            return builder(*(_key_value("key", p) for p in made))

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            cache_key = key_for(*args, **kwargs)
            try:
                s = store()
            except RedisUnavailable:  # no server could even be found: run uncached, retry later
                metrics.incr("fallbacks")
                return fn(*args, **kwargs)
            start = time.perf_counter()
            value = s.lookup(cache_key)
            if value is not MISS and value is not DOWN:
                metrics.incr("hits")
                metrics.latency("read").record(time.perf_counter() - start)
                return value
            metrics.incr("misses" if value is MISS else "fallbacks")
            result = fn(*args, **kwargs)
            metrics.incr("db_queries")  # one call of the wrapped (expensive) function
            if value is MISS:
                try:
                    s.fill(cache_key, result)
                except CodecError as exc:
                    raise CodecError(f"{fn.__qualname__}() returned a value the cache cannot "
                                     f"store: {exc}") from exc
            metrics.latency("read").record(time.perf_counter() - start)
            return result

        def invalidate(*args, **kwargs) -> bool:
            """Delete the cached result for these arguments."""
            return store().invalidate(key_for(*args, **kwargs))

        wrapper.metrics = metrics
        wrapper.key_for = key_for
        wrapper.invalidate = invalidate
        wrapper.store = store
        return wrapper

    return decorate
