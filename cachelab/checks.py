"""Argument checks with errors that say what to do: one home for "a positive number, not bool".

Every check raises :class:`CachelabTypeError` (a ``TypeError``) for the wrong kind of value and
:class:`CachelabValueError` (a ``ValueError``) for the right kind out of range, so callers can
catch the built-in classes, and tests can tell a checked refusal from a library's raw error.
"""

from __future__ import annotations

import math
import re

__all__ = [
    "CachelabError", "CachelabTypeError", "CachelabValueError", "MAX_TTL_S", "SQL_INT_MAX",
    "SQL_INT_MIN", "count", "fraction", "name", "number", "positive", "row_id",
]

#: SQLite INTEGER is a signed 64-bit number; a larger Python int cannot even be bound.
SQL_INT_MIN, SQL_INT_MAX = -(2**63), 2**63 - 1

#: Longest TTL accepted (about 31 years). Redis stores expiry as milliseconds since the epoch
#: in 64 bits and refuses more; "never expires" is no TTL at all, not a huge one.
MAX_TTL_S = 1e9


class CachelabError(Exception):
    """Base of cachelab's argument errors."""


class CachelabValueError(CachelabError, ValueError):
    """The right kind of value, outside what the call accepts."""


class CachelabTypeError(CachelabError, TypeError):
    """The wrong kind of value (a str for an id, a bool for a number, ...)."""


def _kind(value) -> str:
    return f"{type(value).__name__} {value!r}"[:120]


def number(what: str, value, *, low: float | None = None, high: float | None = None,
           low_open: bool = False, hint: str = "") -> float:
    """``value`` if it is a finite int/float (not bool) within [low, high]; else a clear error."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise CachelabTypeError(f"{what} must be a number, got {_kind(value)}{hint}")
    if not math.isfinite(value):
        raise CachelabValueError(f"{what} must be a finite number, got {value!r}{hint}")
    too_low = low is not None and (value <= low if low_open else value < low)
    if too_low or (high is not None and value > high):
        lo = "" if low is None else f"{'>' if low_open else '>='} {low:g}"
        hi = "" if high is None else f"<= {high:g}"
        raise CachelabValueError(f"{what} must be {' and '.join(x for x in (lo, hi) if x)}, "
                                 f"got {value!r}{hint}")
    return value


def positive(what: str, value, *, high: float | None = None, hint: str = "") -> float:
    """``value`` if it is a finite number > 0 (and <= ``high``); else a clear error."""
    number(what, value, hint=hint)
    if not 0 < value <= (math.inf if high is None else high):
        limit = "" if high is None else f" and at most {high:g}"
        raise CachelabValueError(f"{what} must be positive{limit}, got {value!r}{hint}")
    return value


def fraction(what: str, value, *, low_open: bool = False, hint: str = "") -> float:
    """``value`` if it is a finite number in [0, 1) (or (0, 1) with ``low_open``)."""
    number(what, value, low=0, high=1, low_open=low_open, hint=hint)
    if value == 1:
        raise CachelabValueError(f"{what} must be below 1 (a fraction), got {value!r}{hint}")
    return value


def count(what: str, value, *, low: int = 1, high: int | None = None, hint: str = "") -> int:
    """``value`` if it is an int (not bool) within [low, high]; else a clear error."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise CachelabTypeError(f"{what} must be a whole number, got {_kind(value)}{hint}")
    if value < low or (high is not None and value > high):
        rng = f">= {low}" if high is None else f"between {low} and {high}"
        raise CachelabValueError(f"{what} must be {rng}, got {value!r}{hint}")
    return value


def row_id(value, what: str = "user id") -> int:
    """``value`` if it is an int that fits a SQLite INTEGER (what a row id can be)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise CachelabTypeError(f"{what} must be an int, got {_kind(value)}; "
                                "convert it first, e.g. int(request_id)")
    if not SQL_INT_MIN <= value <= SQL_INT_MAX:
        raise CachelabValueError(f"{what} {value} does not fit a 64-bit database id "
                                 f"({SQL_INT_MIN}..{SQL_INT_MAX}); no row can have it")
    return value


_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


def name(what: str, value) -> str:
    """``value`` if it is a short plain name usable as a folder name (no '/', no '..')."""
    if not isinstance(value, str):
        raise CachelabTypeError(f"{what} must be a str, got {_kind(value)}")
    if not _NAME.fullmatch(value) or ".." in value:
        raise CachelabValueError(
            f"{what} {value!r} is not a plain name: use 1-64 letters, digits, '_', '-' or '.', "
            "starting with a letter or digit (it becomes a folder name)")
    return value
