"""An in-process cache (the copies that invalidation events are for), with a TTL backstop."""

from __future__ import annotations

import threading
import time
from typing import Any

from ..metrics import Counters
from ..ttl import check_ttl

__all__ = ["MISSING", "LocalCache"]


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


#: Returned by :meth:`LocalCache.get` on a miss, so that a cached ``None`` stays a hit.
MISSING: Any = _Missing()


class LocalCache:
    """A thread-safe dict of copies with an optional TTL backstop and race-safe fills.

    A fill that started before an invalidation of the same key (or a flush) is refused:
    otherwise a reader that fetched the old value just before the event arrived would
    store it *after* the event and keep it until the TTL backstop, or forever.
    """

    def __init__(self, ttl: float | None = None, max_entries: int = 100_000):
        self.ttl = check_ttl(ttl, allow_none=True)
        if isinstance(max_entries, bool) or not isinstance(max_entries, int) or max_entries < 1:
            raise ValueError(f"max_entries must be a positive int, got {max_entries!r}")
        self.max_entries = max_entries
        self._data: dict[str, tuple[Any, float | None]] = {}
        self._gen: dict[str, int] = {}   # per-key invalidation counter since the last flush
        self._epoch = 0                  # bumped by every flush
        self._lock = threading.Lock()
        self.stats = Counters()

    def get(self, key: str) -> Any:
        """The local copy, or :data:`MISSING` (also when its TTL backstop ran out)."""
        with self._lock:
            item = self._data.get(key)
            if item is not None and item[1] is not None and time.monotonic() >= item[1]:
                del self._data[key]
                item = None
        self.stats.incr("hits" if item is not None else "misses")
        return item[0] if item is not None else MISSING

    def begin(self, key: str) -> tuple[int, int]:
        """A token to take before fetching ``key`` from the next tier; pass it to :meth:`fill`."""
        with self._lock:
            return self._epoch, self._gen.get(key, 0)

    def fill(self, key: str, value: Any, token: tuple[int, int]) -> bool:
        """Store ``value`` unless ``key`` was invalidated (or the cache flushed) since ``token``."""
        with self._lock:
            if token != (self._epoch, self._gen.get(key, 0)):
                self.stats.incr("fills_refused")
                return False
            if len(self._data) >= self.max_entries and key not in self._data:
                self._data.pop(next(iter(self._data)))  # oldest insertion first; enough here
            expires = time.monotonic() + self.ttl if self.ttl else None
            self._data[key] = (value, expires)
            return True

    def invalidate(self, *keys: str) -> int:
        """Drop these keys' copies (and refuse fills already in flight); return how many were held."""
        dropped = 0
        with self._lock:
            for key in keys:
                self._gen[key] = self._gen.get(key, 0) + 1
                dropped += self._data.pop(key, None) is not None
        self.stats.incr("invalidated", dropped)
        return dropped

    def flush(self) -> int:
        """Drop every copy (and refuse every fill in flight); return how many were held."""
        with self._lock:
            n = len(self._data)
            self._data.clear()
            self._gen.clear()
            self._epoch += 1
        self.stats.incr("flushes")
        return n

    def __contains__(self, key: str) -> bool:
        return self.get(key) is not MISSING

    def __len__(self) -> int:
        with self._lock:
            return len(self._data)

    def __repr__(self) -> str:
        return f"<LocalCache {len(self)} copies ttl={self.ttl}>"
