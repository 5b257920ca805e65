"""One workload through every cache pattern, measured the same way (notebook 06).

:func:`compare_patterns` sends the same requests (same seed: the same keys, read/write mix
and schedule, at the same database latency) through each pattern's package version with
:func:`cachelab.workload.run_workload`, and adds what that driver cannot see by itself: how
long the *database* stayed behind an acknowledged write (:class:`DatabaseObserver` polls the
SQLite file), database round trips split into reads and writes, and how long a write-behind
queue took to drain. :func:`sync_crash_test` SIGKILLs a process that writes through a
synchronous pattern and counts acknowledged writes missing from the database; the
write-behind crash tests are :mod:`cachelab.write_behind.crash`'s.

    python -m cachelab.compare crash-app ...   (the process sync_crash_test kills)
"""

from __future__ import annotations

import argparse
import os
import re
import sqlite3
import threading
import time
from bisect import bisect_right
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path

import redis

from .aside import CacheAside
from .codec import loads
from .db import Database
from .keys import Keys
from .metrics import percentile
from .read_through import ReadThroughCache
from .refresh_ahead import RefreshAhead
from .server import RedisProcess, connect
from .ttl import check_ttl
from .workload import run_workload
from .write_behind import MemoryWriteBehind, StreamWriteBehind, check_queue_safety
from .write_behind.crash import _kill, _open, spawn
from .write_through import WriteThrough

__all__ = ["PATTERNS", "SYNCHRONOUS", "TTL_ONLY", "WRITE_BEHIND", "DatabaseObserver", "Running", "build",
           "behind_over_time", "compare_patterns", "db_lag_ms", "queue_redis", "run_pattern",
           "sync_crash_test", "table"]

PATTERNS = ("cache-aside", "read-through", "write-through", "write-behind (memory)",
            "write-behind (stream)", "refresh-ahead")
# Acknowledge a write only after the database committed it.
SYNCHRONOUS = ("cache-aside", "read-through", "write-through", "refresh-ahead")
WRITE_BEHIND = ("write-behind (memory)", "write-behind (stream)")
# A reference, not a contestant: cache-aside whose writers do not invalidate (freshness by TTL).
TTL_ONLY = "cache-aside (TTL only)"


def _check_names(names: Iterable[str]) -> None:
    unknown = [n for n in names if n not in (*PATTERNS, TTL_ONLY)]
    if unknown:
        raise ValueError(f"unknown pattern(s) {unknown}; choose from {', '.join(PATTERNS)} "
                         f"(or {TTL_ONLY!r})")


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")  # "write-behind-memory"


def build(name: str, r: redis.Redis, db: Database, keys: Keys, *, ttl: float = 2.0,
          flush_interval: float = 0.2, batch_size: int = 100, refresh_at: float = 0.8,
          check_queue: bool = True):
    """The package version of pattern ``name`` (:data:`PATTERNS` or TTL_ONLY), named ``name``.

    ``ttl`` is in seconds, at least 1 (write-behind keeps whole seconds). ``flush_interval``
    and ``batch_size`` tune write-behind, ``refresh_at`` refresh-ahead; everything else is
    each class's default, as notebooks 01-05 built it.
    """
    _check_names([name])
    ttl = check_ttl(ttl)
    if ttl < 1:
        raise ValueError(f"ttl must be at least 1 s here (write-behind records keep whole "
                         f"seconds), got {ttl!r}")
    if name in ("cache-aside", TTL_ONLY):
        pattern = CacheAside(r, db, keys, ttl=ttl, invalidate=name == "cache-aside")
    elif name == "read-through":
        pattern = ReadThroughCache.for_users(r, db, keys, ttl=ttl)
    elif name == "write-through":
        pattern = WriteThrough(r, db, keys, ttl=ttl)
    elif name == "write-behind (memory)":
        pattern = MemoryWriteBehind(r, db, keys, ttl=ttl, batch_size=batch_size,
                                    flush_interval=flush_interval)
    elif name == "write-behind (stream)":
        pattern = StreamWriteBehind(r, db, keys, ttl=ttl, check=check_queue)
    else:
        pattern = RefreshAhead(r, db, keys, ttl=ttl, refresh_at=refresh_at)
    pattern.name = name
    return pattern


class Running:
    """A built pattern plus what it needs running in this process (the stream's worker)."""

    def __init__(self, name: str, r: redis.Redis, db: Database, keys: Keys, **kwargs):
        self.name = name
        self.pattern = build(name, r, db, keys, **kwargs)
        self.worker = None
        self._stop = threading.Event()
        self._thread = None
        if isinstance(self.pattern, StreamWriteBehind):
            self.worker = self.pattern.worker(batch_size=kwargs.get("batch_size", 100),
                                              block_ms=50)
            self._thread = threading.Thread(target=self.worker.run, args=(self._stop,),
                                            name="stream-worker", daemon=True)
            self._thread.start()

    def settle(self, timeout: float = 60) -> None:
        """Wait until the database has every acknowledged write and no refresh is running."""
        p = self.pattern
        if isinstance(p, MemoryWriteBehind):
            p.flush(timeout)
        elif isinstance(p, StreamWriteBehind):
            deadline = time.monotonic() + timeout
            while p.queue_depth:  # the worker XDELs an entry only after its commit
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{p.queue_depth} writes still queued after {timeout}s")
                time.sleep(0.005)
        elif isinstance(p, RefreshAhead):
            p.wait_idle(timeout)

    def close(self) -> None:
        """Stop the worker thread (if any) and close the pattern."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        close = getattr(self.pattern, "close", None)
        if close is not None:
            close()

    def __enter__(self) -> Running:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class DatabaseObserver:
    """Polls every user's version straight from the SQLite file, as another service would.

    Its own connection: no latency knob, not counted as the application's DB queries.
    ``polls`` holds ``(time.time() when the SELECT started, {user id: version})``.
    """

    def __init__(self, path: str | os.PathLike, users: int, every: float = 0.02):
        if not every > 0:
            raise ValueError(f"every must be positive seconds, got {every!r}")
        self.path, self.users, self.every = Path(path), users, every
        self.polls: list[tuple[float, dict[int, int]]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="db-observer", daemon=True)
        self._conn: sqlite3.Connection | None = None

    def poll(self) -> tuple[float, dict[int, int]]:
        """One look at the database, stamped with the moment the SELECT started."""
        if self._conn is None:
            self._conn = sqlite3.connect(self.path, timeout=30, isolation_level=None,
                                         check_same_thread=False)
        start = time.time()  # a statement sees what was committed before it started
        rows = self._conn.execute("SELECT id, version FROM users WHERE id <= ?",
                                  (self.users,)).fetchall()
        seen = (start, dict(rows))
        self.polls.append(seen)
        return seen

    def _run(self) -> None:
        while not self._stop.is_set():
            self.poll()
            self._stop.wait(self.every)

    def start(self) -> DatabaseObserver:
        self._thread.start()
        return self

    def stop(self) -> list[tuple[float, dict[int, int]]]:
        """Stop polling, take one last look, and return every poll."""
        self._stop.set()
        self._thread.join(timeout=10)
        self.poll()
        self._conn.close()
        self._conn = None
        return self.polls


def db_lag_ms(acks: Iterable[tuple[int, int, float]],
              polls: Sequence[tuple[float, Mapping[int, int]]]) -> list[float]:
    """For each acknowledged write, how long after the ack the database was seen without it.

    ``acks``: (user id, version, time of the ack); ``polls``: (start time, {id: version}),
    in time order. A write's lag is the start of the last poll that began after its ack and
    still showed an older version, minus the ack time; 0 if none did. Only polls that began
    after the ack count, so a write committed before its ack measures exactly 0, however
    seldom the observer looks; a positive lag is a lower bound.
    """
    times = [t for t, _ in polls]
    out = []
    for user_id, version, t_ack in acks:
        lag = 0.0
        for t, seen in polls[bisect_right(times, t_ack):]:
            if seen.get(user_id, 0) >= version:
                break  # versions only grow: from here on the database has it
            lag = t - t_ack
        out.append(lag * 1000)
    return out


def behind_over_time(acks: Iterable[tuple[int, int, float]],
                     polls: Sequence[tuple[float, Mapping[int, int]]],
                     t0: float = 0.0) -> list[tuple[float, int]]:
    """At each poll: how many users' newest acknowledged version the database lacked."""
    pending = sorted(acks, key=lambda a: a[2])
    latest: dict[int, int] = {}
    out, i = [], 0
    for t, seen in polls:
        while i < len(pending) and pending[i][2] < t:
            uid, version, _ = pending[i]
            latest[uid] = max(latest.get(uid, 0), version)
            i += 1
        out.append((t - t0, sum(1 for uid, v in latest.items() if seen.get(uid, 0) < v)))
    return out


class _Recorded:
    """Delegates to a pattern and logs (user id, version, time.time()) for every ack."""

    def __init__(self, pattern):
        self.pattern, self.name, self.metrics = pattern, pattern.name, pattern.metrics
        self.acks: list[tuple[int, int, float]] = []

    def read(self, user_id: int):
        return self.pattern.read(user_id)

    def write(self, user_id: int, **fields):
        row = self.pattern.write(user_id, **fields)
        if row is not None:
            self.acks.append((user_id, row["version"], time.time()))  # atomic under the GIL
        return row


def run_pattern(name: str, r: redis.Redis, db: Database, keys: Keys, *, ttl: float = 2.0,
                latency_ms: float = 20.0, duration_s: float = 3.0, rate: float = 150.0,
                threads: int = 8, users: int = 200, write_ratio: float = 0.1,
                skew: float = 1.0, seed: int = 6, flush_interval: float = 0.2,
                batch_size: int = 100, refresh_at: float = 0.8, observe_every: float = 0.02,
                keep_raw: bool = False) -> dict:
    """Warm the cache, run the workload through pattern ``name``, drain it, measure everything.

    Returns ``{"summary": {...}, "series": {...}}``: plain numbers for a table, and the
    samples behind the charts (times in seconds since the load started, latencies in ms).
    ``keep_raw`` adds the acks and the observer's polls.
    """
    users = min(users, db.n_users)
    with Running(name, r, db, keys.child(_slug(name)), ttl=ttl,
                 flush_interval=flush_interval, batch_size=batch_size,
                 refresh_at=refresh_at) as run:
        pattern = _Recorded(run.pattern)
        with db.latency(0):  # warm every user at once (milliseconds, not the knob's cost)
            for uid in range(1, users + 1):
                pattern.read(uid)
        run.settle()
        observer = DatabaseObserver(db.path, users, every=observe_every)
        with db.latency(latency_ms):
            observer.start()
            t0 = time.time()
            res = run_workload(pattern, db, duration_s=duration_s, rate=rate, threads=threads,
                               users=users, write_ratio=write_ratio, skew=skew, seed=seed)
            t_load = time.time()
            run.settle()
            t_settled = time.time()
            polls = observer.stop()
    log = db.query_log(since=t0)
    db_reads = [t - t0 for t, verb in log if verb == "SELECT"]
    db_writes = [t - t0 for t, verb in log if verb != "SELECT"]
    lags = db_lag_ms(pattern.acks, polls)
    behind = [ms for ms in lags if ms > 0]
    final = polls[-1][1]
    s = res.summary()
    summary = {
        "pattern": name, "reads": res.reads, "writes": res.writes, "errors": res.errors,
        "hit_ratio": s["hit_ratio"],
        "read_p50_ms": s["read_p50_ms"], "read_p99_ms": s["read_p99_ms"],
        "write_p50_ms": s["write_p50_ms"], "write_p99_ms": s["write_p99_ms"],
        "db_queries": len(log), "db_reads": len(db_reads), "db_writes": len(db_writes),
        "stale_reads": res.stale_reads, "max_stale_ms": round(s["max_stale_s"] * 1000, 1),
        "writes_seen_behind": len(behind),
        "db_behind_p50_ms": round(percentile(behind, 50), 1) if behind else 0.0,
        "db_behind_max_ms": round(max(behind), 1) if behind else 0.0,
        "drain_ms": round((t_settled - t_load) * 1000, 1),
        "missing_after_drain": sum(1 for uid, v, _ in pattern.acks if final.get(uid, 0) < v),
    }
    series = {
        "read_ms": res.read_ms, "write_ms": res.write_ms, "db_read_times": db_reads,
        "db_write_times": db_writes, "stale_times": res.stale_times,
        "stale_ages_ms": [a * 1000 for a in res.stale_ages_s], "lag_ms": behind,
        "behind": behind_over_time(pattern.acks, polls, t0),
    }
    if keep_raw:
        series["acks"], series["polls"] = pattern.acks, polls
    return {"summary": summary, "series": series, "error_samples": res.error_samples}


def compare_patterns(r: redis.Redis, db: Database, keys: Keys, *,
                     names: Sequence[str] = PATTERNS,
                     progress: Callable[[str], None] | None = None, **settings) -> dict:
    """:func:`run_pattern` for each of ``names`` with the same ``settings``; {name: run}.

    Every run gets a fresh key prefix, the same seed and the same schedule, so each pattern
    sees the same requests. The database is not reseeded between runs; versions keep growing,
    which no measurement depends on.
    """
    _check_names(names)
    stamp = time.time_ns()
    out = {}
    for name in names:
        if progress:
            progress(name)
        out[name] = run_pattern(name, r, db, keys.child("cmp", stamp), **settings)
    return out


def table(runs: Mapping[str, dict]) -> list[dict]:
    """The summary rows of :func:`compare_patterns`' runs, in order."""
    return [dict(run["summary"]) for run in runs.values()]


def queue_redis(r: redis.Redis, keys: Keys) -> tuple[redis.Redis, RedisProcess | None]:
    """A client on which a write-behind queue under ``keys`` cannot be evicted.

    ``r`` itself when its policy is safe (see :func:`check_queue_safety`); otherwise a
    client of a private ``noeviction`` server, returned too so the caller can stop it.
    """
    if check_queue_safety(r, keys, raise_=False)["ok"]:
        return r, None
    private = RedisProcess(args=("--maxmemory-policy", "noeviction")).start()
    return connect(private.url), private


# -- crashing a synchronous pattern --------------------------------------------------------

def _versions(db: Database, users: int) -> dict[int, int]:
    with db.latency(0):
        rows = db.query("SELECT id, version FROM users WHERE id <= ?", (users,))
    return {row["id"]: row["version"] for row in rows}


def _read_acks(path: Path) -> list[tuple[int, int]]:
    try:
        lines = path.read_bytes().split(b"\n")[:-1]  # the last piece may be half-written
    except FileNotFoundError:
        return []
    return [(int(a), int(b)) for a, b in (line.split() for line in lines if line)]


def _cached_version(pattern, user_id: int) -> int | None:
    if isinstance(pattern, RefreshAhead):
        raw = pattern.r.get(pattern.key(user_id))
        value = loads(raw) if raw is not None else None
    else:
        value = pattern.store.raw(user_id)  # a row, "tombstone", "negative" or None
    return value["version"] if isinstance(value, dict) else None


def sync_crash_test(r: redis.Redis, db: Database, keys: Keys, name: str, *,
                    kill_after: int = 60, threads: int = 4, users: int = 50,
                    timeout: float = 60) -> dict:
    """SIGKILL a process writing through synchronous pattern ``name``; count lost acked writes.

    The child updates ``users`` users from ``threads`` threads and logs each acknowledged
    (user, version) to a file; after ``kill_after`` acks it is SIGKILLed mid-run. Lost: an
    acknowledged version the database does not have. Also counted: writes the database
    committed that were never acknowledged (in flight at the kill: nothing was promised),
    and cached copies left older than the database (killed between commit and cache update).
    """
    if name not in SYNCHRONOUS:
        raise ValueError(f"{name!r} is not synchronous; the write-behind crash tests are "
                         "cachelab.write_behind.crash.memory_crash_test / durable_crash_test")
    users = min(users, db.n_users)
    before = _versions(db, users)
    workdir = db.path.parent
    ack_file = workdir / f"acked-{_slug(name)}-{time.time_ns()}.log"
    proc = spawn("crash-app", r, db, keys, "--pattern", name, "--acked", str(ack_file),
                 "--threads", str(threads), "--app-users", str(users), module="cachelab.compare")
    killed, deadline = False, time.monotonic() + timeout
    try:
        while proc.poll() is None and time.monotonic() < deadline:
            if len(_read_acks(ack_file)) >= kill_after:
                _kill(proc)
                killed = True
                break
            time.sleep(0.005)
    finally:
        if proc.poll() is None:
            _kill(proc)
    acks = _read_acks(ack_file)
    ack_file.unlink(missing_ok=True)
    after = _versions(db, users)
    pattern = build(name, r, db, keys, ttl=300)
    cached = {uid: _cached_version(pattern, uid) for uid in after}
    getattr(pattern, "close", lambda: None)()
    committed = sum(after[uid] - before[uid] for uid in after)
    return {"pattern": name, "killed": killed, "exit_code": proc.returncode,
            "acked": len(acks), "lost": sum(1 for uid, v in acks if after.get(uid, 0) < v),
            "committed": committed, "committed_not_acked": committed - len(acks),
            "cache_older_than_db": sum(1 for uid, v in cached.items()
                                       if v is not None and v < after[uid])}


def _crash_app(args) -> None:
    r, db, keys = _open(args)
    pattern = build(args.pattern, r, db, keys, ttl=300)
    fd = os.open(args.acked, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def writer(n: int) -> None:
        for i in range(args.count):
            uid = 1 + (i * args.threads + n) % args.app_users
            row = pattern.write(uid, plan=f"crash-{n}-{i}")
            os.write(fd, f"{uid} {row['version']}\n".encode())  # acknowledged: record it

    pool = [threading.Thread(target=writer, args=(n,)) for n in range(args.threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m cachelab.compare")
    parser.add_argument("mode", choices=["crash-app"])
    for name in ("--redis", "--prefix", "--db", "--pattern", "--acked"):
        parser.add_argument(name, required=True)
    parser.add_argument("--users", type=int, default=2000)
    parser.add_argument("--orders", type=int, default=0)
    parser.add_argument("--latency", type=float, default=20.0)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--app-users", type=int, default=50)
    parser.add_argument("--count", type=int, default=10_000)  # per thread; bounds an orphan
    _crash_app(parser.parse_args(argv))


if __name__ == "__main__":
    main()
