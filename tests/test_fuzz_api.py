"""Hostile values into every public entry point the notebooks call (tests/fuzz_surface.py).

Each call either works as documented or is refused by a ``raise`` in cachelab's own code with a
ValueError/TypeError that says what to do: never a raw library error, never a hang, and after a
refusal nothing changed in Redis or the database. Set CACHELAB_FUZZ_REPORT=path to write the
tally of cases tried.
"""

from __future__ import annotations

import json
import linecache
import os
import signal
import sqlite3
import uuid
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import cachelab
from cachelab import Database, Keys, delete_prefix

from .fuzz_surface import SLOTS

PACKAGE = Path(cachelab.__file__).parent
TEN_MB = "x" * (10 * 1024 * 1024)
HANG_S = 30  # a liveness bound: a call still running after this is a hang

#: The fixed hostile values every slot gets: wrong types, bool-for-int, NaN/±inf, 0,
#: negatives, huge ints, empty and 10 MB strings, glob characters, newlines, unserialisable.
HOSTILE = [
    None, True, False, 0, -1, 1, 7, -0.0, 0.5, 2.5, float("nan"), float("inf"), float("-inf"),
    2**63, 2**70, -(2**70), 1e300, "", "7", "*", "user:*", "a?b[c]\\", "line\nbreak", "\x00",
    TEN_MB, b"bytes", [], [1, object()], {"a": {1, 2}}, {"nested": {"deep": object()}}, object(),
]

RANDOM = st.one_of(
    st.integers(), st.floats(), st.booleans(), st.none(),
    st.text(alphabet=st.sampled_from("ab*?[]\\:\n \x00é%"), max_size=12),
    st.binary(max_size=8), st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=3), st.sampled_from([1, float("nan"), object()]), max_size=2),
)

TALLY: Counter = Counter()

# Opt-in until the defects it still finds are fixed and it fits the suite's time budget.
pytestmark = pytest.mark.skipif(not os.environ.get("CACHELAB_FUZZ"),
                                reason="the API sweep is opt-in for now: CACHELAB_FUZZ=1")


class Hang(Exception):
    """A call did not return within HANG_S."""


class Ctx:
    """What a slot needs: the real Redis and database, and objects to close after the call."""

    def __init__(self, r, db, keys, url):
        self.r, self.db, self.keys, self.url = r, db, keys, url
        self._open: list = []
        self._origin = None

    def closing(self, obj):
        self._open.append(obj)
        return obj

    def enter(self, cm):
        value = cm.__enter__()
        self._open.append(cm)
        return value

    def origin(self):
        if self._origin is None:
            from cachelab.http import Origin
            self._origin = Origin().start()
        return self._origin

    def close_all(self, result=None) -> None:
        things = [*self._open, result]
        self._open.clear()
        for obj in reversed(things):
            if hasattr(obj, "__exit__") and not hasattr(obj, "close"):
                obj.__exit__(None, None, None)
            elif type(obj).__module__.startswith("cachelab") and callable(getattr(obj, "close", None)):
                obj.close()


@pytest.fixture(scope="module")
def ctx(r, redis_url, tmp_path_factory):
    db = Database(tmp_path_factory.mktemp("fuzz") / "fuzz.sqlite", latency_ms=0, users=200,
                  orders=600)
    keys = Keys("test").child("fuzz", uuid.uuid4().hex[:8])
    canary = Keys("test").child("fuzzcanary", uuid.uuid4().hex[:8])("alive")
    r.set(canary, "1")
    c = Ctx(r, db, keys, redis_url)
    c.base = keys
    c.canary = canary
    yield c
    if c._origin is not None:
        c._origin.stop()
    r.delete(canary)
    delete_prefix(r, keys)
    db.close()
    out = os.environ.get("CACHELAB_FUZZ_REPORT")
    if out:
        Path(out).write_text(json.dumps({"slots": len(SLOTS), **TALLY}, indent=2))


def _state(c: Ctx) -> tuple:
    """What a refused call must not have changed: the test's keys and the database's rows."""
    redis_side = sorted((k, c.r.dump(k)) for k in c.r.scan_iter(match=c.keys.pattern(), count=1000))
    with sqlite3.connect(f"file:{c.db.path}?mode=ro", uri=True) as con:
        db_side = con.execute("SELECT count(*), total(version), max(updated_at), "
                              "(SELECT count(*) FROM orders) FROM users").fetchone()
    return redis_side, db_side


def _raised_by_cachelab(exc: BaseException) -> bool:
    """True if the innermost frame is a ``raise`` statement in cachelab's own source."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    if tb is None:
        return False
    path = Path(tb.tb_frame.f_code.co_filename)
    line = linecache.getline(str(path), tb.tb_lineno).strip()
    return PACKAGE in path.parents and line.startswith("raise")


def _on_alarm(signum, frame):
    raise Hang(f"no answer within {HANG_S}s")


def check(c: Ctx, slot, value) -> None:
    """Call ``slot`` with ``value`` and hold it to the rules in the module doc."""
    expected = slot.kind(value)
    c.keys = c.base.child(str(SLOTS.index(slot)))  # one namespace per slot: no clashing types
    if slot.heavy and expected is not False:
        TALLY["skipped (valid input starts a whole run)"] += 1
        return
    before = _state(c)
    old = signal.signal(signal.SIGALRM, _on_alarm)
    signal.setitimer(signal.ITIMER_REAL, HANG_S)
    result, error = None, None
    try:
        result = slot.call(c, value)
    except Hang:
        raise
    except Exception as exc:  # noqa: BLE001 - classified below
        error = exc
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
        c.close_all(result)
    shown = repr(value)[:80]
    assert c.r.exists(c.canary), f"{slot.name} with {shown} deleted a key outside its namespace"
    if error is None:
        TALLY["accepted"] += 1
        assert expected is not False, f"{slot.name} accepted {shown}; it must refuse it"
        return
    TALLY["refused"] += 1
    # LookupError: a documented "no such row" (a write-behind update of a missing user).
    assert isinstance(error, (ValueError, TypeError, LookupError)) and _raised_by_cachelab(error), (
        f"{slot.name} with {shown} raised a raw {type(error).__module__}."
        f"{type(error).__name__}: {str(error)[:200]}")
    assert len(str(error)) >= 20, f"{slot.name}: the message {str(error)!r} says nothing useful"
    assert expected is not True, f"{slot.name} refused valid {shown}: {str(error)[:200]}"
    assert _state(c) == before, f"{slot.name} with {shown} failed after a partial write"


@pytest.mark.skipif(not os.environ.get("CACHELAB_FUZZ_FULL"),
                    reason="the full fixed sweep takes minutes: CACHELAB_FUZZ_FULL=1 runs it")
@pytest.mark.parametrize("slot", SLOTS, ids=repr)
def test_fixed_hostile_values(ctx, slot):
    for value in HOSTILE:
        TALLY["cases"] += 1
        check(ctx, slot, value)


@pytest.mark.parametrize("slot", SLOTS, ids=repr)
@settings(max_examples=int(os.environ.get("CACHELAB_FUZZ_EXAMPLES", 4)), deadline=None,
          database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(value=st.one_of(st.sampled_from(HOSTILE), RANDOM))
def test_random_values(ctx, slot, value):
    TALLY["cases"] += 1
    check(ctx, slot, value)
