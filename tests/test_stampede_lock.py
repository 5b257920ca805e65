"""Lock safety, against the real server: tokens, no recursion, dead holders, timeouts."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import pytest

from cachelab import dumps
from cachelab.codec import CodecError
from cachelab.stampede import BriefLock, LockDefence, LockTimeout, RedisLock, backoff, make_defence


def _wait_until(cond, timeout=10.0, step=0.005):
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(step)


class Counting:
    """A compute function that counts its calls and notes when it ran."""

    def __init__(self, value="fresh", delay=0.0):
        self.value, self.delay, self.calls, self.at = value, delay, 0, []

    def __call__(self, key):
        self.calls += 1
        self.at.append(time.monotonic())
        time.sleep(self.delay)
        return self.value


def test_an_expired_holder_cannot_release_the_new_holders_lock(r, keys):
    name = keys("lock")
    first = RedisLock(r, name, ttl=0.05)
    assert first.acquire()
    _wait_until(lambda: not r.exists(name))          # its TTL ran out (holder too slow)
    second = RedisLock(r, name, ttl=10)
    assert second.acquire()
    assert first.release() is False                   # compare-and-delete refuses
    assert second.held() and r.get(name).decode() == second.token
    assert first.extend() is False
    assert second.release() is True and not r.exists(name)


def test_the_brief_lock_frees_someone_elses_lock(r, keys):
    # The pitfall, shown: the brief's DEL removes whichever lock is there.
    key = keys("report")
    brief = BriefLock(r, Counting(delay=0.3), ttl=10, lock_ttl=0.05)
    worker = threading.Thread(target=brief.get, args=(key,))
    worker.start()
    _wait_until(lambda: r.exists(f"{key}:lock"))
    _wait_until(lambda: not r.exists(f"{key}:lock"))  # the brief holder's lock expired
    other = RedisLock(r, f"{key}:lock", ttl=30)
    assert other.acquire()
    worker.join()
    assert not r.exists(f"{key}:lock")                # our lock was deleted by them
    assert other.release() is False


def test_ten_thousand_waits_do_not_recurse(r, keys):
    key = keys("report")
    r.set(f"{key}:lock", "someone-else", px=120_000)  # a holder that takes its time
    compute = Counting()
    d = LockDefence(r, compute, ttl=10, wait_timeout=120, backoff_base=0, backoff_cap=0)
    out = {}
    waiter = threading.Thread(target=lambda: out.setdefault("got", d.get(key)))
    waiter.start()
    _wait_until(lambda: d.stats["waits"] >= 10_000, timeout=300)
    r.set(key, dumps("filled by the holder"), ex=10)
    waiter.join(60)
    assert out["got"] == ("filled by the holder", "waited")
    assert d.stats["waits"] >= 10_000 and compute.calls == 0


def test_the_brief_lock_recurses_until_recursion_error(r, keys):
    key = keys("report")
    r.set(f"{key}:lock", "1", px=120_000)
    brief = BriefLock(r, Counting(), ttl=10, wait=0)
    with pytest.raises(RecursionError):
        brief.get(key)


HOLDER = textwrap.dedent("""
    import sys, time
    from cachelab import connect
    from cachelab.stampede import LockDefence
    r = connect(sys.argv[1])
    def forever(key):
        print("computing", flush=True)
        time.sleep(3600)
    LockDefence(r, forever, ttl=10, lock_ttl=float(sys.argv[3])).get(sys.argv[2])
""")


def test_after_sigkill_of_the_holder_the_next_caller_acquires_after_the_ttl(r, keys, redis_url):
    key, lock_ttl = keys("report"), 1.5
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, redis_url, key, str(lock_ttl)],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "computing"  # it holds the lock now
        dead_token = r.get(f"{key}:lock")
        assert dead_token is not None
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait(10)
    finally:
        if holder.poll() is None:
            holder.kill()
    killed_at = time.monotonic()
    remaining = r.pttl(f"{key}:lock") / 1000  # the dead holder's lock is still there
    assert remaining > 0

    seen = {}

    def compute(k):
        seen["lock_value"] = r.get(f"{key}:lock")
        seen["at"] = time.monotonic()
        return "recomputed"

    d = LockDefence(r, compute, ttl=10, lock_ttl=lock_ttl, wait_timeout=30)
    assert d.get(key) == ("recomputed", "miss")
    assert d.stats["waits"] > 0                       # it had to wait: nobody released the lock
    assert seen["lock_value"] not in (None, dead_token)  # it computed under its own lock
    assert seen["at"] >= killed_at + remaining - 0.005  # only once the dead holder's TTL ran out
    assert not r.exists(f"{key}:lock")


def test_a_waiter_that_times_out_never_computes(r, keys):
    key = keys("report")
    r.set(f"{key}:lock", "holder-token", px=60_000)
    compute = Counting()
    d = LockDefence(r, compute, ttl=10, wait_timeout=0.3)
    with pytest.raises(LockTimeout, match="waited"):
        d.get(key)
    assert compute.calls == 0 and d.stats["timeouts"] == 1
    assert r.get(f"{key}:lock") == b"holder-token" and not r.exists(key)


def test_only_one_of_many_concurrent_callers_computes(r, keys):
    key = keys("report")
    callers, entered = 50, []
    everyone_in = threading.Event()

    def compute(k):
        # Hold the lock until every caller has started (however slowly a busy machine
        # schedules the threads), so the others really contend instead of finding a hit.
        everyone_in.wait(30)
        return counting(k)

    counting = Counting(delay=0.05)
    d = LockDefence(r, compute, ttl=10)
    results = []

    def caller():
        entered.append(1)
        if len(entered) == callers:
            everyone_in.set()
        results.append(d.get(key))

    threads = [threading.Thread(target=caller) for _ in range(callers)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert counting.calls == 1
    outcomes = sorted(o for _, o in results)
    # A caller that starts after the value is stored finds a hit; none may compute again.
    assert outcomes.count("miss") == 1 and set(outcomes) <= {"miss", "waited", "hit"}
    assert outcomes.count("waited") >= 1
    assert {v for v, _ in results} == {"fresh"}


def test_a_failing_recompute_releases_the_lock(r, keys):
    key = keys("report")

    def broken(k):
        raise RuntimeError("database down")

    d = LockDefence(r, broken, ttl=10)
    with pytest.raises(RuntimeError, match="database down"):
        d.get(key)
    assert not r.exists(f"{key}:lock")               # the next caller is not blocked
    d.compute = lambda k: {"set": {1, 2}}             # not JSON: a clear error, lock released
    with pytest.raises(CodecError, match="not a JSON type"):
        d.get(key)
    assert not r.exists(f"{key}:lock")


def test_backoff_is_jittered_bounded_and_respects_the_deadline():
    import random

    rng = random.Random(3)
    delays = [backoff(a, base=0.01, cap=0.05, rng=rng) for a in range(200)]
    assert all(0 <= d <= 0.05 for d in delays)
    assert len({round(d, 6) for d in delays}) > 150   # not a fixed sleep
    assert all(backoff(a, base=0.01, cap=0.05, remaining=0.001) <= 0.001 for a in range(20))
    assert backoff(10**6, base=0.01, cap=0.05) <= 0.05   # no overflow for huge attempts
    assert backoff(3, base=0.01, cap=1, remaining=-1) == 0
    with pytest.raises(ValueError):
        backoff(-1)


@pytest.mark.parametrize("bad, error", [
    ({"ttl": -1}, ValueError), ({"ttl": 0}, ValueError), ({"ttl": "10"}, TypeError),
    ({"ttl": 10, "lock_ttl": float("nan")}, ValueError), ({"ttl": 10, "wait_timeout": 0}, ValueError),
])
def test_bad_settings_are_refused(r, bad, error):
    with pytest.raises(error):
        LockDefence(r, lambda k: 1, **bad)


def test_unknown_defence_and_bad_compute(r):
    with pytest.raises(ValueError, match="choose one of"):
        make_defence("magic", r, lambda k: 1, 10)
    with pytest.raises(TypeError, match="compute"):
        make_defence("lock", r, "not a function", 10)
    with pytest.raises(TypeError):
        RedisLock(r, "", 1)


def test_keys_with_glob_characters_are_just_keys(r, keys):
    key = keys("report", "*?[x]\\")
    d = make_defence("lock", r, lambda k: {"for": k}, ttl=10)
    assert d.get(key) == ({"for": key}, "miss")
    assert d.get(key) == ({"for": key}, "hit")


def test_redis_down_is_a_clear_error_and_recovery_needs_nothing(private_redis, keys):
    import redis

    from cachelab import connect

    client = connect(private_redis.url, socket_timeout=1.0, pool_timeout=2.0)
    compute = Counting()
    d = LockDefence(client, compute, ttl=10)
    key = keys("report")
    assert d.get(key) == ("fresh", "miss")
    private_redis.kill()
    with pytest.raises(redis.ConnectionError):
        d.get(key)
    assert compute.calls == 1                        # no blind recompute while Redis is down
    private_redis.start()                            # restarted empty (no persistence)
    assert d.get(key) == ("fresh", "miss") and compute.calls == 2
