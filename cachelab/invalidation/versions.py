"""Version-in-the-key invalidation: one INCR makes a whole namespace unreachable, no deletes."""

from __future__ import annotations

import re
from typing import Any

import redis

from ..codec import dumps, loads
from ..keys import Keys, escape_glob, scan_keys
from ..ttl import check_ttl
from .common import key_parts, memory_of
from .local import MISSING

__all__ = ["VersionedCache"]


class VersionedCache:
    """Keys carry the namespace's current version: ``<prefix>:v<N>:<parts>``.

    :meth:`bump` is one INCR; readers then build keys with the new number, so every old
    entry is unreachable at once. The old entries still sit in memory until their TTL:
    that is the price, and :meth:`leftover` measures it.
    """

    def __init__(self, r: redis.Redis, keys: Keys, ttl: float = 300):
        self.r, self.keys, self.ttl = r, keys, check_ttl(ttl)
        self.version_key = keys("version")

    def version(self) -> int:
        """The namespace's current version (0 before the first bump)."""
        raw = self.r.get(self.version_key)
        return int(raw) if raw is not None else 0

    def key(self, *parts: str | int, version: int | None = None) -> str:
        """The key for ``parts`` under ``version`` (default: the current one, one GET)."""
        v = self.version() if version is None else version
        return self.keys(f"v{v}", *parts)

    def get(self, *parts: str | int) -> tuple[int, Any]:
        """``(version, value)``: the version read first, then the value under it (two reads).

        Keep the version with the value you compute on a miss and :meth:`set` under *it*:
        a write that bumps the namespace meanwhile makes your late value unreachable
        instead of stale.
        """
        v = self.version()
        raw = self.r.get(self.key(*parts, version=v))
        return v, (MISSING if raw is None else loads(raw))

    def set(self, parts: tuple, value: Any, version: int, ttl: float | None = None) -> str:
        """Store ``value`` under an explicit ``version`` (the one :meth:`get` returned)."""
        ttl = self.ttl if ttl is None else check_ttl(ttl)
        if isinstance(version, bool) or not isinstance(version, int) or version < 0:
            raise ValueError(f"version must be the int that get() returned, got {version!r}")
        key = self.key(*key_parts(parts), version=version)
        self.r.set(key, dumps(value), px=max(1, int(ttl * 1000)))
        return key

    def bump(self) -> int:
        """Invalidate everything in the namespace: one INCR, nothing deleted."""
        return int(self.r.incr(self.version_key))

    def leftover(self) -> dict[str, int]:
        """Keys and bytes (MEMORY USAGE) still held under versions older than the current one."""
        current = self.version()
        old, live = [], []
        versioned = re.compile(re.escape(self.keys.prefix) + r":v(\d+):")
        for k in scan_keys(self.r, escape_glob(self.keys.prefix) + ":v*"):
            m = versioned.match(k.decode() if isinstance(k, bytes) else k)
            if m:  # skips the version counter itself, which also starts with "v"
                (live if int(m.group(1)) == current else old).append(k)
        return {"version": current, "old_keys": len(old), "old_bytes": memory_of(self.r, old),
                "live_keys": len(live), "live_bytes": memory_of(self.r, live)}
