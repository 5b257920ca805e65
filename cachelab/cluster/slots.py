"""Redis Cluster's key -> slot mapping, written out: CRC16 (XMODEM) mod 16384, with hash tags."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from ..keys import Keys

__all__ = ["SLOTS", "crc16", "hash_tag", "key_slot", "tagged", "slot_spread"]

#: Redis Cluster divides the key space into this many slots (2**14).
SLOTS = 16384


def _crc16_table() -> list[int]:
    # CRC-16/XMODEM: polynomial 0x1021, initial value 0, no reflection (the cluster spec's choice).
    table = []
    for byte in range(256):
        crc = byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else (crc << 1)
        table.append(crc & 0xFFFF)
    return table


_TABLE = _crc16_table()


def crc16(data: bytes) -> int:
    """CRC-16/XMODEM of ``data`` (``crc16(b"123456789") == 0x31C3``)."""
    crc = 0
    for byte in data:
        crc = ((crc << 8) & 0xFFFF) ^ _TABLE[((crc >> 8) ^ byte) & 0xFF]
    return crc


def _encode(key: str | bytes) -> bytes:
    if isinstance(key, bytes):
        return key
    if isinstance(key, str):
        return key.encode()
    raise TypeError(f"a key is str or bytes, got {type(key).__name__}")


def hash_tag(key: str | bytes) -> bytes:
    """The part of ``key`` that is hashed: between the first '{' and the next '}', if non-empty."""
    data = _encode(key)
    start = data.find(b"{")
    if start != -1:
        end = data.find(b"}", start + 1)
        if end > start + 1:  # "{}" is not a tag: then the whole key is hashed
            return data[start + 1:end]
    return data


def key_slot(key: str | bytes) -> int:
    """The hash slot (0..16383) that owns ``key``."""
    return crc16(hash_tag(key)) % SLOTS


def tagged(keys: Keys, *parts: str | int) -> Keys:
    """A key builder whose keys all share the hash tag ``{parts}``, so they land in one slot.

    ``tagged(Keys("13"), "user", 42)("profile")`` -> ``cachelab:13:{user:42}:profile``.
    Braces inside parts are percent-encoded so an id can never end the tag early.
    """
    if not parts:
        raise ValueError("a hash tag needs at least one part, e.g. tagged(keys, 'user', 42)")
    inner = keys(*parts)[len(keys.prefix) + 1:]  # validated and ':'-escaped by Keys
    inner = inner.replace("{", "%7B").replace("}", "%7D")
    sub = Keys.__new__(Keys)
    sub.prefix = f"{keys.prefix}:{{{inner}}}"
    return sub


def slot_spread(keys: Iterable[str | bytes], owner_of_slot) -> dict[str, int]:
    """How many of ``keys`` each owner holds; ``owner_of_slot(slot)`` names the owner."""
    return dict(Counter(owner_of_slot(key_slot(k)) for k in keys))
