"""JSON codec for cache values: plain JSON types only, never pickle."""

from __future__ import annotations

import json
import math
from typing import Any

from .checks import CachelabTypeError, CachelabValueError

__all__ = ["CodecError", "dumps", "loads", "MAX_VALUE_BYTES"]

#: Largest encoded value we agree to cache. Redis allows 512 MB, but a cached
#: object this big is a design problem (slow to move, blocks the event loop).
MAX_VALUE_BYTES = 8 * 1024 * 1024


class CodecError(CachelabValueError):
    """A value cannot be encoded for the cache, or cached bytes cannot be decoded."""


def _find_bad(value: Any, path: str = "$") -> tuple[str, str] | None:
    """Locate the first value JSON cannot represent faithfully: (path, reason)."""
    if value is None or isinstance(value, (bool, int, str)):
        return None
    if isinstance(value, float):
        return None if math.isfinite(value) else (path, f"the float {value!r} is not valid JSON")
    if isinstance(value, dict):
        for k, v in value.items():
            if not isinstance(k, str):
                return (path, f"dict key {k!r} is a {type(k).__name__}; JSON keys must be str")
            bad = _find_bad(v, f"{path}.{k}")
            if bad:
                return bad
        return None
    if isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            bad = _find_bad(v, f"{path}[{i}]")
            if bad:
                return bad
        return None
    return (path, f"{type(value).__module__}.{type(value).__qualname__} is not a JSON type")


def dumps(value: Any, *, max_bytes: int | None = MAX_VALUE_BYTES) -> bytes:
    """Encode ``value`` as compact UTF-8 JSON; raise CodecError naming what is wrong."""
    bad = _find_bad(value)
    if bad:
        where, why = bad
        raise CodecError(
            f"cannot cache the value at {where}: {why}. Convert it to str/int/float/bool/None/"
            "list/dict first (for example a datetime with .isoformat(), a set with sorted())."
        )
    data = json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()
    if max_bytes is not None and len(data) > max_bytes:
        raise CodecError(
            f"encoded value is {len(data):,} bytes, over the {max_bytes:,}-byte limit; cache a "
            "smaller projection of it, split it into several keys, or pass a larger max_bytes."
        )
    return data


def loads(data: bytes | str | None) -> Any:
    """Decode bytes written by :func:`dumps`; raise CodecError if they are not JSON."""
    if data is None:
        raise CodecError("nothing to decode (the key was missing); check for None before loads()")
    if not isinstance(data, (bytes, bytearray, str)):
        raise CachelabTypeError(f"loads() decodes the bytes or str read from Redis, got "
                                f"{type(data).__name__}; pass r.get(key), not the value itself")
    try:
        return json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        preview = bytes(data[:40]) if isinstance(data, (bytes, bytearray)) else data[:40]
        raise CodecError(
            f"cached bytes are not cachelab JSON ({exc}); starts with {preview!r}. Another program "
            "may have written this key: delete it or give this cache its own prefix."
        ) from exc
