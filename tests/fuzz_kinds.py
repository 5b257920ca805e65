"""What the docs promise for a value: True (must work), False (must be refused), None (either).

The kinds of argument the slots in tests/fuzz_surface.py take, one predicate each.
"""

from __future__ import annotations

import math

from cachelab.checks import SQL_INT_MAX, SQL_INT_MIN

BIG = 10**6  # counts above this may be refused or accepted: both are fine


def _num(v) -> bool:
    return type(v) in (int, float) and math.isfinite(v)


def ttl(v):
    """A TTL in seconds: positive, finite, at most 1e9."""
    return _num(v) and 0 < v <= 1e9


def ttl_or_none(v):
    return True if v is None else ttl(v)


def positive(v):
    """A positive finite number without an upper bound in the docs (huge: either is fine)."""
    if not (_num(v) and v > 0):
        return False
    return True if v <= 1e6 else None


def non_negative(v):
    if not (_num(v) and v >= 0):
        return False
    return True if v <= 1e6 else None


def fraction(v):
    """A spread or refresh point: [0, 1)."""
    return _num(v) and 0 <= v < 1


def open_fraction(v):
    return _num(v) and 0 < v < 1


def row_id(v):
    return type(v) is int and SQL_INT_MIN <= v <= SQL_INT_MAX


def maybe_row(v):
    """An id that may or may not have a row (a missing one may be refused)."""
    return None if row_id(v) else False


def maybe_text(v):
    """A str a column may still refuse (empty for a NOT NULL name)."""
    return None if isinstance(v, str) else False


def count(v, low: int = 1):
    if type(v) is not int or v < low:
        return False
    return True if v <= BIG else None


def count0(v):
    return count(v, 0)


def text(v):
    return isinstance(v, str)


def small_text(v):
    """A str that is not megabytes long (a big one may be refused)."""
    if not isinstance(v, str):
        return False
    return True if len(v) < 10_000 else None


def part(v):
    """A key part or tag: a non-empty str or an int (glob characters and newlines included)."""
    if isinstance(v, str):
        return (True if len(v) < 10_000 else None) if v else False
    return type(v) is int


def any_value(v):
    """Anything: a value JSON can hold is stored, anything else refused."""
    return None


def folder_name(v):
    """A name that becomes a folder: '', '/', '..' and control characters are refused."""
    if not isinstance(v, str) or not v or v in (".", "..") or "/" in v or "\\" in v:
        return False
    return False if any(ord(ch) < 32 for ch in v) or len(v) > 64 else None


def key_text(v):
    """A Redis key the caller built: a non-empty str."""
    if not isinstance(v, str) or not v:
        return False
    return True if len(v) < 10_000 else None


def list_item(v):
    """A list item: any str (empty included) or an int id."""
    return small_text(v) if isinstance(v, str) else type(v) is int


def score(v):
    """A sorted-set score: a number or ±inf, not NaN, not an int too big for a float."""
    if type(v) not in (int, float) or v != v:
        return False
    return not (type(v) is int and abs(v) > 1e308)
