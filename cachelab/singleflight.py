"""Single-flight: concurrent calls for one key share one execution (in one process)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from typing import Any

from . import checks

__all__ = ["SingleFlight"]


class _Call:
    __slots__ = ("done", "result", "error", "waiters")

    def __init__(self):
        self.done = threading.Event()
        self.result: Any = None
        self.error: BaseException | None = None
        self.waiters = 0


class SingleFlight:
    """``do(key, fn)`` runs ``fn`` once for all callers that ask for ``key`` while it runs.

    The leader runs ``fn``; followers block until it finishes and get the same result (or
    the same exception). Once the call is done the next caller starts a fresh one, so this
    coalesces concurrent misses without caching anything itself.
    """

    def __init__(self):
        self._lock = threading.Lock()
        self._calls: dict[Hashable, _Call] = {}
        self.executions = 0  # how many times fn actually ran
        self.shared = 0      # how many callers got someone else's result

    def do(self, key: Hashable, fn: Callable[[], Any], timeout: float | None = None) -> Any:
        """Run ``fn`` or wait for the in-flight run for ``key``; return its result."""
        if timeout is not None:  # Event.wait() treats 0 and negatives as "do not wait at all"
            checks.positive("timeout", timeout, high=threading.TIMEOUT_MAX,
                            hint=" (seconds a follower waits; None waits as long as it takes)")
        with self._lock:
            call = self._calls.get(key)
            leader = call is None
            if leader:
                call = self._calls[key] = _Call()
                self.executions += 1
            else:
                call.waiters += 1
                self.shared += 1
        if not leader:
            if not call.done.wait(timeout):
                raise TimeoutError(f"waited {timeout}s for the in-flight call for {key!r}")
            if call.error is not None:
                raise call.error
            return call.result
        try:
            call.result = fn()
            return call.result
        except BaseException as exc:
            call.error = exc
            raise
        finally:
            with self._lock:
                del self._calls[key]
            call.done.set()

    def in_flight(self) -> int:
        """Number of keys being computed right now."""
        with self._lock:
            return len(self._calls)
