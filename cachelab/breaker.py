"""A circuit breaker and a fail-fast Redis client: a cache outage must not stall reads."""

from __future__ import annotations

import threading
import time

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from . import checks

__all__ = ["CircuitBreaker", "fast_fail_client", "REDIS_DOWN"]

#: Errors that mean "Redis cannot answer right now" (refused, reset, timed out, loading).
#: A ResponseError (OOM, WRONGTYPE) means Redis answered, so it does not trip the breaker.
REDIS_DOWN = (redis.ConnectionError, redis.TimeoutError)


def fast_fail_client(url: str, *, timeout: float = 0.25, max_connections: int = 64,
                     pool_timeout: float = 5.0) -> redis.Redis:
    """A client that gives up on a dead or hung server within ``timeout`` seconds.

    Short connect and socket timeouts and no retries: ``redis.Redis(host, port)`` retries
    10 times with exponential backoff by default (redis-py 8), which turns one read against
    a stopped server into seconds of waiting. The pool blocks (up to ``pool_timeout``)
    instead of raising when all ``max_connections`` are busy. Does not PING, so it can be
    built while the server is down.
    """
    if not timeout > 0:
        raise ValueError(f"timeout must be a positive number of seconds, got {timeout!r}")
    pool = redis.BlockingConnectionPool.from_url(
        url, max_connections=max_connections, timeout=pool_timeout,
        socket_timeout=timeout, socket_connect_timeout=timeout,
        retry=Retry(NoBackoff(), 0),
    )
    return redis.Redis(connection_pool=pool)


class CircuitBreaker:
    """Stop calling Redis after ``threshold`` consecutive failures; probe again after ``reset_after`` s.

    closed: every call goes through. open: calls are skipped (the caller falls back to the
    database at once). half-open: after ``reset_after`` seconds one caller probes; success
    closes the breaker, failure opens it again. Thread-safe; the closed path takes no lock.
    """

    CLOSED, OPEN, HALF_OPEN = "closed", "open", "half-open"

    def __init__(self, threshold: int = 3, reset_after: float = 0.5):
        checks.count("threshold", threshold, hint=" (consecutive failures that open the breaker)")
        # inf would never probe again, so the breaker could never close.
        checks.positive("reset_after", reset_after,
                        hint=" (seconds before an open breaker lets one call probe Redis)")
        self.threshold = threshold
        self.reset_after = float(reset_after)
        self._lock = threading.Lock()
        self.state = self.CLOSED
        self.failures = 0          # consecutive failures while closed
        self._opened_at = 0.0
        self._probing = False
        self._probe_at = 0.0
        self.opened = 0            # how many times the breaker opened
        self.skipped = 0           # calls refused while open

    def allow(self) -> bool:
        """May the caller try Redis now?"""
        if self.state is self.CLOSED:
            return True
        with self._lock:
            if self.state is self.OPEN and time.monotonic() - self._opened_at >= self.reset_after:
                self.state = self.HALF_OPEN
                self._probing = False
            now = time.monotonic()
            # One probe at a time; a probe that never reported back (its caller died) expires.
            if self.state is self.HALF_OPEN and (not self._probing
                                                 or now - self._probe_at >= self.reset_after):
                self._probing, self._probe_at = True, now
                return True
            if self.state is self.CLOSED:
                return True
            self.skipped += 1
            return False

    def success(self) -> bool:
        """Record a successful call; True if this closed a breaker that was open."""
        if self.state is self.CLOSED and not self.failures:
            return False
        with self._lock:
            reopened = self.state is not self.CLOSED
            self.state, self.failures, self._probing = self.CLOSED, 0, False
            return reopened

    def failure(self) -> None:
        """Record a failed call (connection refused, reset or timed out)."""
        with self._lock:
            if self.state is self.HALF_OPEN:
                self._trip()
            elif self.state is self.CLOSED:
                self.failures += 1
                if self.failures >= self.threshold:
                    self._trip()

    def _trip(self) -> None:
        self.state, self._opened_at, self._probing = self.OPEN, time.monotonic(), False
        self.failures = 0
        self.opened += 1

    def __repr__(self) -> str:
        return f"<CircuitBreaker {self.state} opened={self.opened} skipped={self.skipped}>"
