"""Key builder (one prefix per notebook), glob escaping, and prefix-scoped cleanup."""

from __future__ import annotations

from collections.abc import Iterator

import redis

__all__ = ["ROOT", "Keys", "escape_glob", "scan_keys", "delete_matching", "delete_prefix"]

ROOT = "cachelab"
_GLOB_SPECIAL = "\\*?[]"
# One C-level pass instead of a Python generator per character (a 10 MB id took seconds).
_GLOB_TABLE = str.maketrans({ch: "\\" + ch for ch in _GLOB_SPECIAL})


def escape_glob(text: str) -> str:
    """Escape ``* ? [ ] \\`` so Redis MATCH treats ``text`` literally."""
    if not isinstance(text, str):
        raise TypeError(f"escape_glob() needs a str, got {type(text).__name__}")
    return text.translate(_GLOB_TABLE)


def _part(part: object) -> str:
    # bool is an int subclass; user:True is almost certainly a bug upstream.
    if isinstance(part, bool) or not isinstance(part, (str, int)):
        raise TypeError(
            f"key parts must be str or int, got {type(part).__name__} ({part!r}); "
            "pass the id itself, not an object or None"
        )
    text = str(part)
    if text == "":
        raise ValueError("key parts must not be empty")
    # ':' separates parts; encoding it (and '%') keeps 'user' + '1:x' apart from 'user:1' + 'x'.
    return text.replace("%", "%25").replace(":", "%3A")


class Keys:
    """Builds keys under ``cachelab:<namespace>``: ``Keys("08")("user", 42)`` -> ``cachelab:08:user:42``."""

    def __init__(self, namespace: str | int, root: str = ROOT):
        self.prefix = f"{root}:{_part(namespace)}"

    def __call__(self, *parts: str | int) -> str:
        """The key for ``parts`` under this prefix."""
        return ":".join([self.prefix, *(_part(p) for p in parts)])

    def child(self, *parts: str | int) -> Keys:
        """A builder one level down, e.g. for one test or one experiment."""
        sub = Keys.__new__(Keys)
        sub.prefix = self(*parts)
        return sub

    def pattern(self, *parts: str | int) -> str:
        """A MATCH pattern for every key that starts with ``parts`` (escaped, then ``*``)."""
        base = self(*parts) if parts else self.prefix
        return escape_glob(base) + ":*"

    def __repr__(self) -> str:
        return f"Keys({self.prefix!r})"


def scan_keys(r: redis.Redis, pattern: str, count: int = 1000) -> Iterator[bytes | str]:
    """Iterate keys matching an already-escaped ``pattern`` with SCAN (never KEYS)."""
    yield from r.scan_iter(match=pattern, count=count)


def delete_matching(r: redis.Redis, pattern: str, batch: int = 500) -> int:
    """UNLINK every key matching an escaped ``pattern``, in batches; return how many went."""
    deleted = 0
    chunk: list = []
    for key in scan_keys(r, pattern):
        chunk.append(key)
        if len(chunk) >= batch:
            deleted += r.unlink(*chunk)
            chunk.clear()
    if chunk:
        deleted += r.unlink(*chunk)
    return deleted


def delete_prefix(r: redis.Redis, keys: Keys | str, batch: int = 500) -> int:
    """Delete every key under a builder's prefix (or a literal prefix string)."""
    prefix = keys.prefix if isinstance(keys, Keys) else keys
    if not isinstance(prefix, str) or not prefix.startswith(ROOT + ":"):
        raise ValueError(f"refusing to delete outside the {ROOT}: namespace (got {prefix!r})")
    return delete_matching(r, escape_glob(prefix) + ":*", batch)
