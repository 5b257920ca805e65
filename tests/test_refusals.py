"""Defects the API sweep (tests/test_fuzz_api.py) found: each refusal is a cachelab error, early."""

from __future__ import annotations

import pytest

from cachelab import codec
from cachelab import structures as st
from cachelab.checks import CachelabTypeError, CachelabValueError
from cachelab.eviction import WTinyLFU, scan_polluted, zipf
from cachelab.http import CachePolicy, audit
from cachelab.invalidation import run_adaptive, run_avalanche, run_strategy
from cachelab.keys import escape_glob
from cachelab.refresh_ahead import compare_refresh
from cachelab.stampede import backoff, make_defence, run_stampede

NAN, INF = float("nan"), float("inf")


def _compute(key):
    return {"key": key}


# (what was wrong before) -> the call, the error it raises now, a word its message names
PURE = {
    "loads(True): raw json TypeError": (lambda: codec.loads(True), CachelabTypeError, "bytes"),
    "make_defence([]): unhashable": (lambda: make_defence([], None, _compute, 5), ValueError,
                                     "unknown defence"),
    "backoff(cap=None): raw compare": (lambda: backoff(2, cap=None), CachelabTypeError, "cap"),
    "WTinyLFU(window=None): raw compare": (lambda: WTinyLFU(100, window=None), CachelabTypeError,
                                           "window"),
    "zipf(alpha=nan): accepted": (lambda: zipf(10, 50, NAN), CachelabValueError, "alpha"),
    "zipf(n=2**70): MemoryError": (lambda: zipf(2**70, 50, 1.0), CachelabValueError, "n must"),
    "scan_polluted(None): raw compare": (
        lambda: scan_polluted(100, 50, 1.0, scan_every=None, scan_length=5), CachelabTypeError,
        "scan_every"),
    "CachePolicy(vary=(None,)): AttributeError": (
        lambda: CachePolicy(max_age=60, vary=(None,)).headers(), CachelabTypeError, "vary"),
    "audit(None value): audited the text 'None'": (
        lambda: audit({"Cache-Control": None}), CachelabTypeError, "str"),
}


@pytest.mark.parametrize("case", PURE, ids=str)
def test_pure_entry_points_refuse_cleanly(case):
    call, error, word = PURE[case]
    with pytest.raises(error, match=word):
        call()


def test_escape_glob_is_linear_and_unchanged():
    assert escape_glob("a*b?[c]\\d") == "a\\*b\\?\\[c\\]\\\\d"
    assert escape_glob("x" * 10_000_000).count("\\") == 0  # was a generator per character


@pytest.fixture
def nothing_written(r, keys):
    """After the test: no key under its prefix (a refusal must come before any write)."""
    yield keys
    assert list(r.scan_iter(match=keys.pattern(), count=1000)) == []


REDIS = {
    "expire_fields(ttl=None): accepted on Redis < 7.4": (
        lambda r, db, k: st.expire_fields(r, k("obj"), None, "a"), CachelabTypeError, "ttl"),
    "update_json_field(None): stored as 'null'": (
        lambda r, db, k: st.update_json_field(r, k("json"), None, 1), CachelabTypeError, "field"),
    "push_recent(cap=2**70): LTRIM ResponseError": (
        lambda r, db, k: st.push_recent(r, k("l"), "x", cap=2**70, ttl=60), CachelabValueError,
        "cap"),
    "recent(n=True): read as 1": (lambda r, db, k: st.recent(r, k("l"), True), CachelabTypeError,
                                  "n must"),
    "cache_ranking(nan)": (lambda r, db, k: st.cache_ranking(r, k("z"), {"a": NAN}, 60),
                           CachelabValueError, "NaN|float"),
    "top(n=None): raw compare": (lambda r, db, k: st.top(r, k("z"), None), CachelabTypeError, "n"),
    "counter_race(threads=None): raw TypeError": (
        lambda r, db, k: st.counter_race(r, k("c"), threads=None), CachelabTypeError, "threads"),
    "Defence.get(None): redis DataError": (
        lambda r, db, k: make_defence("lock", r, _compute, 5).get(None), CachelabTypeError, "key"),
    "make_defence(lock, wait_timeout=inf): accepted": (
        lambda r, db, k: make_defence("lock", r, _compute, 5, wait_timeout=INF),
        CachelabValueError, "wait_timeout"),
    "make_defence(xfetch, beta=inf): accepted": (
        lambda r, db, k: make_defence("xfetch", r, _compute, 5, beta=INF), CachelabValueError, "beta"),
    "run_stampede(clients=None): raw TypeError": (
        lambda r, db, k: run_stampede(r, db, k, "lock", clients=None), CachelabTypeError, "clients"),
    "run_stampede(xfetch, beta=inf): accepted": (
        lambda r, db, k: run_stampede(r, db, k, "xfetch", beta=INF), CachelabValueError, "beta"),
    "run_stampede(defence=[]): unhashable": (
        lambda r, db, k: run_stampede(r, db, k, []), ValueError, "unknown defence"),
    "run_avalanche(n_keys=None): raw TypeError": (
        lambda r, db, k: run_avalanche(r, db, k, n_keys=None), CachelabTypeError, "n_keys"),
    "run_adaptive(reads_per_s=None): ran anyway": (
        lambda r, db, k: run_adaptive(r, db, k, reads_per_s=None), CachelabTypeError, "reads_per_s"),
    "run_strategy(ttl=inf): RuntimeError from a worker": (
        lambda r, db, k: run_strategy("ttl", "redis://127.0.0.1:1", db, k, ttl=INF),
        CachelabValueError, "ttl"),
    "compare_refresh(readers=None): warmed keys, then failed": (
        lambda r, db, k: compare_refresh(r, db, k, readers=None), CachelabTypeError, "readers"),
}


@pytest.mark.parametrize("case", REDIS, ids=str)
def test_redis_entry_points_refuse_before_writing(r, db, nothing_written, case):
    call, error, word = REDIS[case]
    with pytest.raises(error, match=word):
        call(r, db, nothing_written)
