"""Pattern invalidation that never over-deletes: escaped SCAN patterns, never KEYS."""

from __future__ import annotations

import redis

from ..keys import Keys, delete_matching, escape_glob

__all__ = ["brief_pattern", "entity_pattern", "invalidate_entity", "delete_by_raw_pattern"]


def brief_pattern(keys: Keys, kind: str, entity_id) -> str:
    """The brief's ``f"user:{id}*"``: the id is pasted into a glob unescaped (for the demo only).

    With id ``4`` it also matches users 40-49 and 400...; with id ``*`` it matches every user.
    """
    return f"{keys.prefix}:{kind}:{entity_id}*"


def entity_pattern(keys: Keys, kind: str, entity_id: str | int) -> str:
    """A SCAN pattern for the keys *under* one entity (``<prefix>:kind:<id>:*``), id escaped."""
    return keys.pattern(kind, entity_id)


def invalidate_entity(r: redis.Redis, keys: Keys, kind: str, entity_id: str | int) -> int:
    """Delete one entity's key and every key under it, whatever characters its id holds.

    The id goes through the key builder (``:`` encoded) and :func:`escape_glob`, so ``*``,
    ``?``, ``[``, ``]`` and ``\\`` match only themselves; and the pattern ends in ``:*``,
    so user 4 never matches user 42. SCAN walks the keyspace in small steps (KEYS would
    block the server for every other client while it walked all of it).
    """
    own = keys(kind, entity_id)
    deleted = r.unlink(own)
    return deleted + delete_matching(r, escape_glob(own) + ":*")


def delete_by_raw_pattern(r: redis.Redis, pattern: str) -> int:
    """The brief's listener: SCAN with an unescaped pattern and delete whatever matches."""
    deleted = 0
    for key in r.scan_iter(match=pattern, count=1000):
        deleted += r.delete(key)
    return deleted
