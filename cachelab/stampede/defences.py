"""Seven ways to read a hot key through Redis, from no protection to stale-while-revalidate.

Every defence is a callable ``get(key) -> (value, outcome)`` around ``compute(key)`` (the
expensive database work). Outcomes: ``hit``, ``miss`` (this caller recomputed after a miss),
``early`` (recomputed before expiry), ``waited`` (got a value someone else computed),
``stale`` (served an expired value while one caller refreshes). The brief's two versions
live in ``brief``; ``registry`` names them all.
"""

from __future__ import annotations

import math
import random
import threading
import time
from collections.abc import Callable
from typing import Any

import redis

from .. import checks
from ..checks import MAX_TTL_S, CachelabTypeError
from ..codec import dumps, loads
from ..metrics import Counters
from ..singleflight import SingleFlight
from ..ttl import check_ttl
from .lock import LockTimeout, RedisLock, backoff

__all__ = [
    "Defence", "NoProtection", "LockDefence", "CoalescedLock", "XFetch",
    "RefreshAhead", "SingleFlightDefence", "StaleWhileRevalidate", "xfetch_should_recompute",
]


def _ms(seconds: float) -> int:
    return max(1, math.ceil(seconds * 1000))


def _positive(name: str, value) -> float:
    return float(checks.positive(name, value, high=MAX_TTL_S))


def _key(key) -> str:
    """The key a defence caches under: a non-empty str (build it with Keys)."""
    if not isinstance(key, str) or not key:
        raise CachelabTypeError(f"key must be a non-empty str built with Keys, e.g. "
                                f"keys('report', 7), got {type(key).__name__} {key!r:.60}")
    return key


class Defence:
    """A cache in front of ``compute(key)`` with one stampede strategy; see the module doc."""

    name = "base"

    def __init__(self, r: redis.Redis, compute: Callable[[str], Any], ttl: float, *,
                 lock_ttl: float = 5.0, wait_timeout: float = 5.0, backoff_base: float = 0.01,
                 backoff_cap: float = 0.05):
        if not callable(compute):
            raise TypeError(f"compute must be a function of the key, got {compute!r}")
        self.r, self.compute, self.ttl = r, compute, check_ttl(ttl)
        self.lock_ttl = check_ttl(lock_ttl)
        self.wait_timeout = _positive("wait_timeout", wait_timeout)
        self.backoff_base = checks.number("backoff_base", backoff_base, low=0, high=60)
        self.backoff_cap = checks.number("backoff_cap", backoff_cap, low=0, high=60)
        self.stats = Counters()
        self._threads: set[threading.Thread] = set()
        self._threads_lock = threading.Lock()

    def get(self, key: str) -> tuple[Any, str]:
        """The value for ``key`` and how it was obtained (an outcome)."""
        raise NotImplementedError

    def __call__(self, key: str) -> tuple[Any, str]:
        return self.get(key)

    # -- storage format: subclasses that keep metadata override these two --------------
    def _write(self, key: str, value: Any, delta: float) -> None:
        self.r.set(key, dumps(value), px=_ms(self.ttl))

    def _value(self, raw: bytes) -> Any:
        return loads(raw)

    # -- shared steps -----------------------------------------------------------------
    def _recompute(self, key: str) -> tuple[Any, float]:
        """Run ``compute(key)`` and store the result; return it and how long it took (s)."""
        start = time.perf_counter()
        value = self.compute(key)
        delta = time.perf_counter() - start
        self._write(key, value, delta)
        self.stats.incr("recomputes")
        return value, delta

    def _fill_with_lock(self, key: str) -> tuple[Any, str]:
        """After a miss: one caller recomputes under a Redis lock, the others wait for it.

        A loop with a deadline (no recursion), jittered backoff (no lockstep), the cache
        re-read in the same atomic step that takes the lock (no second recompute), and a
        token-checked release (no freeing someone else's lock). A waiter that reaches the
        deadline raises :class:`LockTimeout` and never computes.
        """
        lock = RedisLock(self.r, f"{key}:lock", self.lock_ttl)
        deadline = time.monotonic() + self.wait_timeout
        attempt = 0
        while True:
            # GET and, only if the value is missing, SET NX: one atomic round trip.
            state, raw = lock.get_or_acquire(key)
            if state == 1:
                return self._value(raw), "waited"
            if state == 2:
                try:
                    return self._recompute(key)[0], "miss"
                finally:
                    if not lock.release():  # our lock expired while we computed
                        self.stats.incr("lock_lost")
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self.stats.incr("timeouts")
                raise LockTimeout(f"waited {self.wait_timeout:g}s for {key!r} to be recomputed; "
                                  "the holder may be stuck or dead (its lock expires after "
                                  f"{self.lock_ttl:g}s). Retry later or raise wait_timeout.")
            time.sleep(backoff(attempt, base=self.backoff_base, cap=self.backoff_cap,
                               remaining=remaining))
            attempt += 1
            self.stats.incr("waits")

    def _background(self, fn: Callable[[], None], name: str) -> None:
        """Run ``fn`` in a tracked daemon thread (joined by :meth:`close`)."""

        def run():
            try:
                fn()
            except Exception as exc:  # a failed refresh must not vanish silently
                self.stats.incr("background_errors")
                self.last_background_error = exc
            finally:
                with self._threads_lock:
                    self._threads.discard(threading.current_thread())

        th = threading.Thread(target=run, name=name, daemon=True)
        with self._threads_lock:
            self._threads.add(th)
        self.stats.incr("background_threads")
        th.start()

    def close(self, timeout: float = 30.0) -> None:
        """Wait for background work started by this instance."""
        deadline = time.monotonic() + timeout
        while True:
            with self._threads_lock:
                pending = list(self._threads)
            if not pending or time.monotonic() > deadline:
                return
            for th in pending:
                th.join(max(0.0, deadline - time.monotonic()))

    def __repr__(self) -> str:
        return f"<{type(self).__name__} ttl={self.ttl:g}s {self.stats.snapshot()}>"


class NoProtection(Defence):
    """Cache-aside with a TTL and nothing else: every caller that misses recomputes."""

    name = "none"

    def get(self, key: str) -> tuple[Any, str]:
        key = _key(key)
        raw = self.r.get(key)
        if raw is not None:
            return self._value(raw), "hit"
        return self._recompute(key)[0], "miss"


class LockDefence(Defence):
    """A Redis lock around the recompute: exactly one caller computes, the rest wait."""

    name = "lock"

    def get(self, key: str) -> tuple[Any, str]:
        key = _key(key)
        raw = self.r.get(key)
        if raw is not None:
            return self._value(raw), "hit"
        return self._fill_with_lock(key)


class CoalescedLock(LockDefence):
    """The lock across processes plus single-flight inside each: one poller per process.

    Waiting on a Redis lock means polling it. With hundreds of waiting threads in one Python
    process, that polling competes with the lock holder for the CPU; coalescing the misses
    of one process first leaves one thread per process to wait on Redis.
    """

    name = "lock+single-flight"

    def __init__(self, r, compute, ttl, **options):
        super().__init__(r, compute, ttl, **options)
        self.flight = SingleFlight()

    def get(self, key: str) -> tuple[Any, str]:
        key = _key(key)
        raw = self.r.get(key)
        if raw is not None:
            return self._value(raw), "hit"
        mine = []

        def fill():
            mine.append(True)
            return self._fill_with_lock(key)

        value, outcome = self.flight.do(key, fill, timeout=self.wait_timeout)
        return value, outcome if mine else "waited"


def xfetch_should_recompute(now: float, delta: float, beta: float, expiry: float,
                            u: float) -> bool:
    """XFetch (Vattani et al., VLDB 2015): recompute if ``now - delta*beta*ln(u) >= expiry``.

    ``u`` is uniform in (0, 1]; ``delta`` is how long the last recompute took (seconds);
    ``beta`` > 1 favours earlier recomputation, < 1 later.
    """
    return now - delta * beta * math.log(u) >= expiry


class XFetch(Defence):
    """Optimal probabilistic early expiration: value, measured delta and expiry stored together.

    Each read may recompute early, with a probability that rises as expiry nears, on a time
    scale of the measured recompute time ``delta``. Under steady load the expected number of
    early recomputations per expiry is about ``e**(1/beta)`` and no caller ever waits.
    """

    name = "xfetch"

    def __init__(self, r, compute, ttl, *, beta: float = 1.0, rng: random.Random | None = None,
                 clock: Callable[[], float] = time.time):
        super().__init__(r, compute, ttl)
        self.beta = _positive("beta", beta)
        self.rng = rng or random.Random()
        self.clock = clock

    def _write(self, key, value, delta) -> None:
        entry = {"value": value, "delta": delta, "expiry": self.clock() + self.ttl}
        self.r.set(key, dumps(entry), px=_ms(self.ttl))

    def _value(self, raw):
        return loads(raw)["value"]

    def get(self, key: str) -> tuple[Any, str]:
        key = _key(key)
        raw = self.r.get(key)
        if raw is None:
            return self._recompute(key)[0], "miss"
        entry = loads(raw)
        u = 1.0 - self.rng.random()  # in (0, 1], so log(u) is finite
        if xfetch_should_recompute(self.clock(), entry["delta"], self.beta, entry["expiry"], u):
            self.stats.incr("early")
            return self._recompute(key)[0], "early"
        return entry["value"], "hit"


class RefreshAhead(Defence):
    """Background refresh: one refresher (elected with a Redis lease) rewrites hot keys early.

    Every process runs a refresher thread; for each key it has served, only the holder of
    that key's lease refreshes it, once ``refresh_at`` of its TTL has passed. Readers never
    recompute unless the key is missing (cold start, or no refresher alive): then they fall
    back to the lock.
    """

    name = "refresh-ahead"

    def __init__(self, r, compute, ttl, *, refresh_at: float = 0.8, **lock_options):
        super().__init__(r, compute, ttl, **lock_options)
        if not 0 < refresh_at < 1:
            raise ValueError(f"refresh_at is a fraction of the TTL in (0, 1), got {refresh_at!r}")
        self.refresh_at = refresh_at
        self.tick = min(0.05, self.ttl / 20)
        self._keys: set[str] = set()
        self._leases: dict[str, RedisLock] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="refresher", daemon=True)
        self._thread.start()

    def get(self, key: str) -> tuple[Any, str]:
        key = _key(key)
        self._keys.add(key)
        raw = self.r.get(key)
        if raw is not None:
            return self._value(raw), "hit"
        return self._fill_with_lock(key)

    def _run(self) -> None:
        lease_ttl = max(1.0, 2 * self.ttl)
        while not self._stop.wait(self.tick):
            for key in list(self._keys):
                try:
                    lease = self._leases.setdefault(key, RedisLock(self.r, f"{key}:refresher",
                                                                   lease_ttl))
                    if not (lease.extend() or lease.acquire()):
                        continue  # another process is this key's refresher
                    pttl = self.r.pttl(key)  # -2: missing, -1: no TTL
                    if pttl < (1 - self.refresh_at) * self.ttl * 1000:
                        self._recompute(key)
                        self.stats.incr("refreshes")
                except redis.RedisError:
                    self.stats.incr("background_errors")  # retried on the next tick

    def close(self, timeout: float = 30.0) -> None:
        self._stop.set()
        self._thread.join(timeout)
        for lease in self._leases.values():
            try:
                lease.release()  # hand over at once instead of after the lease expires
            except redis.RedisError:
                pass
        super().close(timeout)


class SingleFlightDefence(Defence):
    """Request coalescing in one process: concurrent misses share one recompute.

    Works between the threads of one process only, so N processes still recompute up to N
    times per expiry; it combines well with a lock across processes.
    """

    name = "single-flight"

    def __init__(self, r, compute, ttl, **options):
        super().__init__(r, compute, ttl, **options)
        self.flight = SingleFlight()

    def get(self, key: str) -> tuple[Any, str]:
        key = _key(key)
        raw = self.r.get(key)
        if raw is not None:
            return self._value(raw), "hit"
        computed = []

        def fill():
            raw = self.r.get(key)  # another process may have filled it meanwhile
            if raw is not None:
                return self._value(raw)
            computed.append(True)
            return self._recompute(key)[0]

        value = self.flight.do(key, fill, timeout=self.wait_timeout)
        return value, "miss" if computed else "waited"


class StaleWhileRevalidate(Defence):
    """Serve the expired value while exactly one caller refreshes it in the background.

    The entry is fresh for ``ttl`` and kept ``stale_for`` seconds longer. A read of a stale
    entry takes a refresh lock; the winner starts one background refresh, and everybody,
    winner included, gets the stale value at once. A cold miss falls back to the lock.
    """

    name = "swr"

    def __init__(self, r, compute, ttl, *, stale_for: float | None = None, **lock_options):
        super().__init__(r, compute, ttl, **lock_options)
        self.stale_for = check_ttl(stale_for if stale_for is not None else ttl)

    def _write(self, key, value, delta) -> None:
        entry = {"value": value, "fresh_until": time.time() + self.ttl}
        self.r.set(key, dumps(entry), px=_ms(self.ttl + self.stale_for))

    def _value(self, raw):
        return loads(raw)["value"]

    def get(self, key: str) -> tuple[Any, str]:
        key = _key(key)
        raw = self.r.get(key)
        if raw is None:
            return self._fill_with_lock(key)
        entry = loads(raw)
        if time.time() < entry["fresh_until"]:
            return entry["value"], "hit"
        lock = RedisLock(self.r, f"{key}:refresh", self.lock_ttl)
        if lock.acquire():
            def refresh():
                try:
                    # Re-check after winning: a refresh that finished between our read and
                    # our lock may already have written a fresh entry.
                    raw = self.r.get(key)
                    if raw is not None and time.time() < loads(raw)["fresh_until"]:
                        self.stats.incr("recheck_saved")
                        return
                    self._recompute(key)
                    self.stats.incr("refreshes")
                finally:
                    lock.release()
            self._background(refresh, "swr-refresh")
        return entry["value"], "stale"
