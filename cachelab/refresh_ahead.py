"""Refresh-ahead: reload a hot key shortly before it expires, so its readers never miss.

A read that finds its key in the last part of its life (the *window*: the final
``1 - refresh_at`` of the TTL) asks for a refresh. A short ``SET NX PX`` guard makes exactly
one reader per key per window the refresher, across threads and processes; a bounded pool
runs the refreshes, and drops requests when it is full rather than queue without end.
GET and PTTL travel in one MULTI, so "has a value" and "time left" describe the same moment;
PTTL -1 (a key someone wrote without a TTL) gets one refresh that gives it one back.
"""

from __future__ import annotations

import json
import math
import secrets
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext

import redis

from .checks import count, fraction, number, positive
from .codec import dumps, loads
from .db import Database
from .keys import Keys
from .metrics import Metrics, percentile
from .progress import elapsed
from .singleflight import SingleFlight
from .ttl import check_ttl
from .write_behind._store import check_user_id

__all__ = ["RefreshAhead", "BriefRefreshAhead", "run_load", "compare_refresh"]

# KEYS[1] the cached user; ARGV[1] the row as JSON; ARGV[2] TTL in ms; ARGV[3] the row's version
# returns: the key's PTTL just before the write (-2 absent, -1 no TTL), or -3 when the cached
#          copy has a higher version (a newer write got there first): then nothing is written
_SET_FRESH = """
local before = redis.call('PTTL', KEYS[1])
if before ~= -2 then
  local ok, cur = pcall(cjson.decode, redis.pcall('GET', KEYS[1]))
  if ok and type(cur) == 'table' and tonumber(cur['version'])
     and tonumber(cur['version']) > tonumber(ARGV[3]) then
    return -3
  end
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return before
"""


# KEYS[1] a refresh guard; ARGV[1] the token its owner set
# returns: 1 if the guard was ours and is gone, 0 if it belongs to someone else (left alone)
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class RefreshAhead:
    """A read-through user cache that refreshes hot keys before they expire.

    ``refresh_at=0.8`` refreshes once 80 % of the TTL has passed; ``refresh_at=None`` turns
    refresh-ahead off (a plain TTL cache, for comparison). ``workers`` bounds the refresh
    threads and ``max_queued`` the refreshes waiting for one.
    """

    def __init__(self, r: redis.Redis, db: Database, keys: Keys, *, ttl: float = 60,
                 refresh_at: float | None = 0.8, workers: int = 4, max_queued: int | None = None,
                 metrics: Metrics | None = None):
        self.r, self.db, self.keys = r, db, keys
        self.ttl_ms = int(check_ttl(ttl) * 1000)
        if refresh_at is not None and not 0 < number("refresh_at", refresh_at) < 1:
            raise ValueError(f"refresh_at is the fraction of the TTL after which to refresh, in "
                             f"(0, 1); got {refresh_at!r}")
        count("workers", workers, hint=" (threads that refresh in the background)")
        self.refresh_at = refresh_at
        fresh_ms = round(self.ttl_ms * refresh_at) if refresh_at else self.ttl_ms
        self.window_ms = self.ttl_ms - fresh_ms  # not ttl * (1 - 0.8): that is 1999.99… ms
        # The guard outlives any refresh and any reader that saw the old TTL, and is gone
        # before the refreshed value reaches its own window (refresh_at * ttl later).
        self.guard_ms = max(1, fresh_ms)
        self.metrics = metrics or Metrics()
        self.refresh_log: list[tuple[float, int, int]] = []  # (time.time(), id, PTTL before)
        self.miss_log: list[float] = []
        self._set_fresh = r.register_script(_SET_FRESH)
        self._release = r.register_script(_RELEASE)
        self._flight = SingleFlight()
        self._slots = threading.BoundedSemaphore(workers + (max_queued if max_queued is not None
                                                            else 4 * workers))
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="refresh-ahead")
        self._active = 0      # refreshes running now
        self._outstanding = 0  # refreshes submitted and not finished
        self._active_lock = threading.Lock()
        self.max_active = 0

    def key(self, user_id: int) -> str:
        """The cached copy of one user."""
        return self.keys("user", check_user_id(user_id))

    def read(self, user_id: int) -> dict | None:
        """The user (None if there is none); refreshes it in the background near expiry."""
        key = self.key(user_id)
        with self.metrics.latency("read").time():
            with self.r.pipeline(transaction=True) as pipe:
                raw, pttl = pipe.get(key).pttl(key).execute()
            if raw is None:  # PTTL is -2 here: absent, whatever GET and PTTL saw, together
                self.metrics.incr("misses")
                self.miss_log.append(time.time())
                return self._flight.do(user_id, lambda: self._load(user_id))
            self.metrics.incr("hits")
            if self.refresh_at is not None and (pttl == -1 or pttl <= self.window_ms):
                if pttl == -1:
                    self.metrics.incr("no_ttl")  # written without a TTL: refresh gives it one
                self._request_refresh(user_id)
            return loads(raw)

    def write(self, user_id: int, **fields) -> dict | None:
        """Update the database, then cache the new row (a newer version always wins)."""
        check_user_id(user_id)
        dumps(fields)  # a value JSON cannot hold fails here, before the database is touched
        with self.metrics.latency("write").time():
            self.metrics.incr("db_queries")
            row = self.db.update_user(user_id, **fields)
            if row is not None:
                self._store(row)
            return row

    get, update = read, write

    def _load(self, user_id: int) -> dict | None:
        # A reader that missed just before the previous flight stored the row starts a new
        # flight after it ended: look again before paying for a query.
        raw = self.r.get(self.key(user_id))
        if raw is not None:
            return loads(raw)
        self.metrics.incr("db_queries")
        row = self.db.get_user(user_id)
        if row is not None:
            self._store(row)
        return row

    def _store(self, row: dict) -> int:
        return int(self._set_fresh(keys=[self.key(row["id"])],
                                   args=[dumps(row), self.ttl_ms, row["version"]]))

    def _request_refresh(self, user_id: int) -> None:
        guard, token = self.keys("refreshing", user_id), secrets.token_hex(8)
        if not self.r.set(guard, token, nx=True, px=self.guard_ms):
            self.metrics.incr("refresh_skipped")  # someone else refreshes this window
            return
        if not self._slots.acquire(blocking=False):
            # The pool is saturated: give the window back (only our own guard) and keep serving
            # the current value; a later reader in the window may try again.
            self._release(keys=[guard], args=[token])
            self.metrics.incr("refresh_dropped")
            return
        try:
            with self._active_lock:
                self._outstanding += 1
            self._pool.submit(self._refresh, user_id)
        except BaseException:
            with self._active_lock:
                self._outstanding -= 1
            self._slots.release()
            raise

    def _refresh(self, user_id: int) -> None:
        with self._active_lock:
            self._active += 1
            self.max_active = max(self.max_active, self._active)
        try:
            with self.metrics.latency("refresh").time():
                self.metrics.incr("db_queries")
                row = self.db.get_user(user_id)
                if row is None:  # deleted in the database: stop serving it
                    self.r.delete(self.key(user_id))
                    self.metrics.incr("refresh_gone")
                    return
                before = self._store(row)
            self.metrics.incr("refreshes")
            self.refresh_log.append((time.time(), user_id, before))
            if before > self.window_ms:
                self.metrics.incr("refresh_duplicates")  # the key was fresh already
        except Exception:  # the old value keeps serving until it expires; then a plain miss
            self.metrics.incr("refresh_errors")
        finally:
            with self._active_lock:
                self._active -= 1
                self._outstanding -= 1
            self._slots.release()

    def wait_idle(self, timeout: float = 30) -> None:
        """Wait until no refresh is queued or running."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._active_lock:
                if not self._outstanding:
                    return
            time.sleep(0.01)
        raise TimeoutError("refreshes still running")

    def close(self) -> None:
        """Finish running refreshes and stop the pool."""
        self._pool.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> RefreshAhead:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class BriefRefreshAhead:
    """The source brief's refresh-ahead, runnable here, to show its mistakes in notebook 05.

    As written except: the real database, ``set(ex=)`` for the deprecated ``setex``, counters,
    and one measurement per refresh (the key's PTTL just before it writes).
    """

    def __init__(self, r: redis.Redis, db: Database, keys: Keys, ttl: int = 3600):
        self.cache, self.db, self.keys = r, db, keys
        self.ttl = ttl
        self.refresh_threshold = 0.8  # Refresh when 80% of TTL passed
        # For the measurement: TTL rounds to whole seconds, so "TTL < ttl * 0.2" fires while
        # fewer than n + 0.5 s remain, n being the largest whole number below ttl * 0.2.
        self.window_ms = (math.ceil(ttl * (1 - self.refresh_threshold)) - 1) * 1000 + 500
        self.metrics = Metrics()
        self.refresh_log: list[tuple[float, int, int]] = []
        self.miss_log: list[float] = []

    def get_user(self, user_id: int) -> dict | None:
        cache_key = self.keys("user", user_id)
        cached = self.cache.get(cache_key)
        if cached:
            self.metrics.incr("hits")
            ttl_remaining = self.cache.ttl(cache_key)  # a second round trip: may now be -2
            if ttl_remaining < (self.ttl * (1 - self.refresh_threshold)):  # -1 and -2 count too
                self.metrics.incr("threads_started")
                threading.Thread(target=self._refresh_cache, args=(user_id,)).start()
            return json.loads(cached)
        self.metrics.incr("misses")
        self.miss_log.append(time.time())
        user = self._fetch_from_db(user_id)
        if user:
            self.cache.set(cache_key, json.dumps(user), ex=self.ttl)
        return user

    read = get = get_user

    def write(self, user_id: int, **fields) -> dict | None:
        """Not in the brief (it has no write path): update the database, delete the key."""
        self.metrics.incr("db_queries")
        row = self.db.update_user(user_id, **fields)
        self.cache.delete(self.keys("user", user_id))
        return row

    def _refresh_cache(self, user_id: int) -> None:
        user = self._fetch_from_db(user_id)
        if user:
            cache_key = self.keys("user", user_id)
            with self.cache.pipeline(transaction=True) as pipe:  # + the measurement
                before, _ = pipe.pttl(cache_key).set(cache_key, json.dumps(user), ex=self.ttl).execute()
            self.metrics.incr("refreshes")
            self.refresh_log.append((time.time(), user_id, before))
            if before > self.window_ms:
                self.metrics.incr("refresh_duplicates")

    def _fetch_from_db(self, user_id: int) -> dict | None:
        self.metrics.incr("db_queries")
        return self.db.get_user(user_id)

    def close(self) -> None:
        """Nothing to stop: the brief's threads end on their own."""


def run_load(cache, ids: list[int], *, readers: int = 20, duration: float = 5.0,
             write_fraction: float = 0.0, seed: int = 0, progress: str | None = None) -> dict:
    """``readers`` threads read (and write, a ``write_fraction`` of the time) random ``ids``.

    ``progress``, when given, labels a bar that fills with the seconds of the run.
    """
    import random

    if not 0 <= write_fraction <= 1:
        raise ValueError("write_fraction is a fraction in [0, 1]")
    reads: list[tuple[float, float]] = []  # (time.time(), seconds)
    lock = threading.Lock()
    stop = time.monotonic() + duration
    errors: list[str] = []

    def reader(n: int) -> None:
        rng = random.Random(seed * 1000 + n)
        mine = []
        while time.monotonic() < stop:
            uid = rng.choice(ids)
            try:
                if rng.random() < write_fraction:
                    cache.write(uid, plan=rng.choice(["free", "pro", "team"]))
                else:
                    t = time.perf_counter()
                    cache.read(uid)
                    mine.append((time.time(), time.perf_counter() - t))
            except Exception as exc:  # counted, not hidden
                errors.append(f"{type(exc).__name__}: {exc}")
        with lock:
            reads.extend(mine)

    threads = [threading.Thread(target=reader, args=(n,)) for n in range(readers)]
    with elapsed(duration, progress) if progress else nullcontext():
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    return {"reads": reads, "errors": errors}



def compare_refresh(r: redis.Redis, db: Database, keys: Keys, *, ttl: int = 3,
                    refresh_at: float = 0.8, latency_ms: float = 20, readers: int = 50,
                    duration: float = 6.0, hot_keys: int = 5, write_fraction: float = 0.0,
                    workers: int = 4, progress: bool = False,
                    variants: tuple[str, ...] = ("plain TTL", "brief", "refresh-ahead")) -> dict:
    """One read workload on ``hot_keys`` users through each variant, at one DB latency.

    Caches are warmed (untimed) first. Per variant: reads, misses, refreshes, refreshes that
    found the key already refreshed (duplicates), DB queries, threads, read latency, and time
    series of misses and refreshes for the charts. ``progress`` shows a bar per variant.
    """
    # All settings first: each variant warms its keys before it runs, so a late refusal
    # would leave the earlier variants' keys behind.
    check_ttl(ttl)
    fraction("refresh_at", refresh_at, low_open=True, hint=" (0.8 refreshes at 80 % of the TTL)")
    number("latency_ms", latency_ms, low=0, high=60_000)
    count("readers", readers, high=10_000)
    positive("duration", duration, high=3600, hint=" (seconds per variant)")
    count("hot_keys", hot_keys, high=100_000)
    fraction("write_fraction", write_fraction)
    count("workers", workers, high=64)
    unknown = [v for v in variants if v not in ("plain TTL", "brief", "refresh-ahead")]
    if isinstance(variants, str) or unknown:
        raise ValueError(f"variants is a tuple of 'plain TTL', 'brief', 'refresh-ahead'; "
                         f"got {variants!r}")
    ids = list(range(1, hot_keys + 1))
    out: dict = {"params": {"ttl": ttl, "refresh_at": refresh_at, "latency_ms": latency_ms,
                            "readers": readers, "duration": duration, "hot_keys": hot_keys,
                            "write_fraction": write_fraction, "workers": workers}}
    for name in variants:
        sub = keys.child("cmp", name.replace(" ", "-"), time.time_ns())
        if name == "plain TTL":
            cache = RefreshAhead(r, db, sub, ttl=ttl, refresh_at=None)
        elif name == "brief":
            cache = BriefRefreshAhead(r, db, sub, ttl=int(ttl))
        elif name == "refresh-ahead":
            cache = RefreshAhead(r, db, sub, ttl=ttl, refresh_at=refresh_at, workers=workers)
        else:
            raise ValueError(f"unknown variant {name!r}")
        with db.latency(latency_ms):
            for uid in ids:
                cache.read(uid)
            if isinstance(cache, RefreshAhead):
                cache.wait_idle()
            cache.miss_log.clear()
            cache.refresh_log.clear()
            cache.metrics.reset()
            t0 = time.time()
            run = run_load(cache, ids, readers=readers, duration=duration,
                           write_fraction=write_fraction, progress=name if progress else None)
            if isinstance(cache, RefreshAhead):
                cache.wait_idle()
            else:
                time.sleep(0.2 + latency_ms / 1000)  # let the brief's last threads finish
        counts = cache.metrics.counters
        lat = sorted(s for _, s in run["reads"])
        refreshes, dups = counts["refreshes"], counts["refresh_duplicates"]
        windows = refreshes - dups
        out[name] = {
            "reads": len(lat), "errors": len(run["errors"]), "misses": counts["misses"],
            "refreshes": refreshes, "duplicate_refreshes": dups, "windows_refreshed": windows,
            "refreshes_per_window": refreshes / windows if windows else float("nan"),
            "db_queries": counts["db_queries"],
            "threads": (counts["threads_started"] if name == "brief"
                        else getattr(cache, "max_active", 0)),
            "read_p50_ms": percentile(lat, 50) * 1000, "read_p99_ms": percentile(lat, 99) * 1000,
            "read_max_ms": lat[-1] * 1000 if lat else float("nan"),
            "refresh_times": [t - t0 for t, _, _ in cache.refresh_log],
            "miss_times": [t - t0 for t in cache.miss_log],
            "slow_reads": [(t - t0, s * 1000) for t, s in run["reads"] if s > 0.005],
        }
        cache.close()
    return out
