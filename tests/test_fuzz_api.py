"""Hostile values into every public entry point the notebooks call (tests/fuzz_surface.py).

Each call either works as documented or is refused by a ``raise`` in cachelab's own code with a
ValueError/TypeError that says what to do: never a raw library error, never a hang, and after a
refusal nothing changed in Redis or the database.

The default run (part of ``make test``, no opt-in) gives every slot the fixed HOSTILE list plus
CACHELAB_FUZZ_EXAMPLES (default 2) hypothesis examples: about 3,800 cases in seconds.
CACHELAB_FUZZ_FULL=1 adds the slow extras (FULL_EXTRA: the 10 MB string, more unserialisable
shapes) and 40 examples per slot, about 10,000 cases in a few minutes:
``CACHELAB_FUZZ_FULL=1 .venv/bin/python -m pytest tests/test_fuzz_api.py``. The sweep runs on a
private redis-server, so a snapshot is one script call over a handful of keys. Set
CACHELAB_FUZZ_REPORT=path to write the tally of cases tried.
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
from cachelab.server import RedisProcess, connect

from .fuzz_surface import SLOTS

PACKAGE = Path(cachelab.__file__).parent
TEN_MB = "x" * (10 * 1024 * 1024)
HANG_S = 30  # a liveness bound: a call still running after this is a hang

FULL = bool(os.environ.get("CACHELAB_FUZZ_FULL"))

#: The fixed hostile values every slot gets: wrong types, bool-for-int, NaN/±inf, 0,
#: negatives, huge ints, empty and long strings, glob characters, newlines, unserialisable.
HOSTILE = [
    None, True, False, 0, -1, 1, 7, -0.0, 0.5, float("nan"), float("inf"), float("-inf"),
    2**63, 2**70, 1e300, "", "7", "user:*", "a?b[c]\\", "line\nbreak", "x" * 100_000,
    b"bytes", [1, object()], {"nested": {"deep": object()}}, object(),
]
#: Added by CACHELAB_FUZZ_FULL=1: the 10 MB string (slow to copy) and more of the same kinds.
FULL_EXTRA = [2.5, -(2**70), "*", "\x00", TEN_MB, [], {"a": {1, 2}}]
if FULL:
    HOSTILE += FULL_EXTRA
EXAMPLES = int(os.environ.get("CACHELAB_FUZZ_EXAMPLES", 40 if FULL else 2))

RANDOM = st.one_of(
    st.integers(), st.floats(), st.booleans(), st.none(),
    st.text(alphabet=st.sampled_from("ab*?[]\\:\n \x00é%"), max_size=12),
    st.binary(max_size=8), st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=3), st.sampled_from([1, float("nan"), object()]), max_size=2),
)

TALLY: Counter = Counter()

# One script call per snapshot (round trips dominate on a busy machine): empty the slot's
# namespace and plant a sentinel, or list what the namespace holds and whether the canary lives.
_RESET = """
local cursor = "0"
repeat
  local page = redis.call("SCAN", cursor, "MATCH", ARGV[1], "COUNT", 1000)
  cursor = page[1]
  for _, k in ipairs(page[2]) do redis.call("UNLINK", k) end
until cursor == "0"
redis.call("SET", KEYS[1], "sentinel")
"""
_LOOK = """
local out, cursor = {}, "0"
repeat
  local page = redis.call("SCAN", cursor, "MATCH", ARGV[1], "COUNT", 1000)
  cursor = page[1]
  for _, k in ipairs(page[2]) do out[#out + 1] = k end
until cursor == "0"
table.sort(out)
return {redis.call("EXISTS", KEYS[2]), redis.call("GET", KEYS[1]) or "", out}
"""


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
def fuzz_redis(tmp_path_factory):
    """A private server for the sweep: its keyspace stays tiny, so each snapshot is cheap."""
    proc = RedisProcess(workdir=tmp_path_factory.mktemp("fuzz-redis")).start()
    client = connect(proc.url)
    yield proc.url, client
    client.close()
    proc.stop()


@pytest.fixture(scope="module")
def ctx(fuzz_redis, tmp_path_factory):
    redis_url, r = fuzz_redis
    db = Database(tmp_path_factory.mktemp("fuzz") / "fuzz.sqlite", latency_ms=0, users=200,
                  orders=600)
    keys = Keys("test").child("fuzz", uuid.uuid4().hex[:8])
    canary = Keys("test").child("fuzzcanary", uuid.uuid4().hex[:8])("alive")
    r.set(canary, "1")
    c = Ctx(r, db, keys, redis_url)
    c.base = keys
    c.canary = canary
    c.reset, c.look = r.register_script(_RESET), r.register_script(_LOOK)
    c.ro = sqlite3.connect(f"file:{db.path}?mode=ro", uri=True, check_same_thread=False)
    yield c
    c.ro.close()
    if c._origin is not None:
        c._origin.stop()
    r.delete(canary)
    delete_prefix(r, keys)
    db.close()
    out = os.environ.get("CACHELAB_FUZZ_REPORT")
    if out:
        Path(out).write_text(json.dumps({"slots": len(SLOTS), **TALLY}, indent=2))


def _db_state(c: Ctx) -> tuple:
    """The database's rows, summed up: any insert, update or delete changes this."""
    return c.ro.execute("SELECT count(*), total(version), max(updated_at), "
                        "(SELECT count(*) FROM orders) FROM users").fetchone()


def _redis_state(c: Ctx) -> tuple:
    """(canary alive, sentinel value, keys in the slot's namespace); right after _RESET it is
    (1, "sentinel", [sentinel]): anything else after a refusal is a partial write."""
    alive, sentinel, found = c.look(keys=[c.keys("~sentinel"), c.canary], args=[c.keys.pattern()])
    return alive, _text(sentinel), [_text(k) for k in found]


def _text(v) -> str:
    return v.decode() if isinstance(v, bytes) else v


def _show(value) -> str:
    return repr(value[:40] if isinstance(value, str) else value)[:80]


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
    c.reset(keys=[c.keys("~sentinel")], args=[c.keys.pattern()])
    obj = None if slot.setup is None else c.closing(slot.setup(c))  # its own writes are not the call's
    fresh = (1, "sentinel", [c.keys("~sentinel")])  # what _RESET leaves; setup may add more
    before = (fresh if obj is None else _redis_state(c)), _db_state(c)
    old = signal.signal(signal.SIGALRM, _on_alarm)
    signal.setitimer(signal.ITIMER_REAL, HANG_S)
    result, error = None, None
    try:
        result = slot.call(c, value) if slot.setup is None else slot.call(c, value, obj)
    except Hang:
        raise
    except Exception as exc:  # noqa: BLE001 - classified below
        error = exc
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
        c.close_all(result)
    if error is None:
        TALLY["accepted"] += 1
        assert expected is not False, f"{slot.name} accepted {_show(value)}; it must refuse it"
        assert c.r.exists(c.canary), f"{slot.name} with {_show(value)} deleted a key outside its namespace"
        return
    TALLY["refused"] += 1
    # LookupError: a documented "no such row" (a write-behind update of a missing user).
    clean = isinstance(error, (ValueError, TypeError, LookupError)) and _raised_by_cachelab(error)
    assert clean or isinstance(error, slot.raw_ok), (
        f"{slot.name} with {_show(value)} raised a raw {type(error).__module__}."
        f"{type(error).__name__}: {str(error)[:200]}")
    assert len(str(error)) >= 20, f"{slot.name}: the message {str(error)!r} says nothing useful"
    assert expected is not True, f"{slot.name} refused valid {_show(value)}: {str(error)[:200]}"
    assert (_redis_state(c), _db_state(c)) == before, f"{slot.name} with {_show(value)} failed after a partial write"


@pytest.mark.parametrize("slot", SLOTS, ids=repr)
def test_fixed_hostile_values(ctx, slot):
    for value in HOSTILE:
        TALLY["cases"] += 1
        check(ctx, slot, value)


@pytest.mark.parametrize("slot", SLOTS, ids=repr)
# derandomize: make test draws the same examples every run (no flaky suite); the full run
# explores new ones each time.
@settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=not FULL,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(value=st.one_of(st.sampled_from(HOSTILE), RANDOM))
def test_random_values(ctx, slot, value):
    TALLY["cases"] += 1
    check(ctx, slot, value)
