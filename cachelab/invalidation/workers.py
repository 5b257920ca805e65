"""Worker processes with in-process caches, a writer, and the measurement of stale reads.

Each worker is a real process (``spawn``) with a local cache in front of Redis in front of
the database; a writer thread in the caller updates the database at ``write_rate`` and
invalidates the way the strategy says. Every read is logged with the version it returned,
every write with its commit time, so "stale" is decided afterwards, exactly: a read is stale
when it returned an older version than the newest one committed before the read began.
"""

from __future__ import annotations

import bisect
import multiprocessing as mp
import queue
import random
import time
from collections import defaultdict
from dataclasses import dataclass, field

import redis

from .. import checks, children
from ..codec import loads
from ..db import Database
from ..keys import Keys, delete_prefix, scan_keys
from ..metrics import percentile
from ..ttl import check_ttl
from .common import CountingRedis, memory_of, store_if_newer
from .events import (
    NaiveListener,
    PubSubBus,
    PubSubListener,
    StreamBus,
    StreamListener,
    listener_ids,
)
from .local import MISSING, LocalCache
from .tags import TagCache
from .tracking import TrackingCache, tracking_info
from .versions import VersionedCache

__all__ = ["STRATEGIES", "Run", "run_strategy", "analyse", "stale_reads", "VIEWS"]

#: strategy -> (uses a local cache, how the writer invalidates, what it is)
STRATEGIES: dict[str, str] = {
    "ttl": "local copies and Redis keys just expire (no invalidation at all)",
    "pubsub-naive": "the brief's pub/sub listener: dies on the first disconnect",
    "pubsub-reconnect": "pub/sub that reconnects but does not flush what it may have missed",
    "pubsub": "pub/sub + flush on reconnect + bypass while down + TTL backstop",
    "stream": "Redis Stream with a per-worker offset: replays what it missed",
    "tracking": "CLIENT TRACKING: Redis itself invalidates each worker's copies",
    "tags": "no local copies; a write deletes its tag's keys atomically (Lua)",
    "versions": "no local copies; a write bumps the namespace version (INCR)",
}
LOCAL = {"ttl", "pubsub-naive", "pubsub-reconnect", "pubsub", "stream", "tracking"}
VIEWS = ("profile", "card")
_SOURCES = ("local", "redis", "db")


def _view(row: dict, view: str) -> dict:
    if view == "card":
        return {"id": row["id"], "name": row["name"], "plan": row["plan"], "version": row["version"]}
    return row


class _Reader:
    """One worker's read path for one strategy."""

    def __init__(self, spec: dict):
        self.spec = spec
        self.strategy = spec["strategy"]
        self.keys = Keys.__new__(Keys)
        self.keys.prefix = spec["prefix"]
        self.r = CountingRedis.from_url(spec["url"], client_name=f"cachelab-worker-{spec['id']}")
        self.db = Database(spec["db_path"], latency_ms=spec["db_latency_ms"])
        self.ttl = spec["ttl"]
        self.local: LocalCache | None = None
        self.listener = None
        self.tracking: TrackingCache | None = None
        self.events: list[tuple[float, float]] = []  # (sent, received) per event

        def on_event(event: dict, now: float) -> None:
            self.events.append((event["t"], now))

        name = f"cachelab-listener-{spec['id']}"
        s = self.strategy
        if s in ("ttl", "pubsub", "stream"):
            self.local = LocalCache(ttl=self.ttl)
        elif s in ("pubsub-naive", "pubsub-reconnect"):
            self.local = LocalCache(ttl=None)  # no backstop: the brief's setting
        if s == "pubsub-naive":
            self.listener = NaiveListener(spec["url"], self.local, spec["channel"], name=name,
                                          on_event=on_event)
        elif s in ("pubsub", "pubsub-reconnect"):
            self.listener = PubSubListener(spec["url"], self.local, spec["channel"], name=name,
                                           flush_on_reconnect=(s == "pubsub"), on_event=on_event,
                                           backoff=spec["backoff"])
        elif s == "stream":
            self.listener = StreamListener(spec["url"], self.local, spec["stream"], name=name,
                                           on_event=on_event, backoff=spec["backoff"])
        elif s == "tracking":
            self.tracking = TrackingCache(spec["url"], ttl=self.ttl, name=name,
                                          backoff=spec["backoff"],
                                          on_invalidate=lambda keys: self.events.append(
                                              (float("nan"), time.time())))
            self.local = self.tracking.local
        if self.listener is not None:
            self.listener.start()
        self.tags = TagCache(self.r, self.keys.child("tags"), ttl=self.ttl) if s == "tags" else None
        self.versions = (VersionedCache(self.r, self.keys.child("versions"), ttl=self.ttl)
                         if s == "versions" else None)
        self.bypassed = 0

    def key(self, uid: int, view: str) -> str:
        return self.keys("user", uid, view)

    def read(self, uid: int, view: str) -> tuple[dict, str]:
        """One read through this strategy's tiers; returns (value, where it came from)."""
        if self.tags is not None:
            value = self.tags.get("user", uid, view)
            if value is MISSING:
                value = _view(self.db.get_user(uid), view)
                self.tags.set(("user", uid, view), value, tags=[f"user:{uid}"])
                return value, "db"
            return value, "redis"
        if self.versions is not None:
            v, value = self.versions.get("user", uid, view)
            if value is MISSING:
                value = _view(self.db.get_user(uid), view)
                self.versions.set(("user", uid, view), value, version=v)
                return value, "db"
            return value, "redis"
        key = self.key(uid, view)
        if self.tracking is not None:
            raw = self.tracking.get(key)
            if raw is not None:
                return loads(raw), self.tracking.last_source
            return self._from_db(key, uid, view), "db"
        trusted = self.listener is None or self.listener.healthy
        if trusted:
            value = self.local.get(key)
            if value is not MISSING:
                return value, "local"
        else:
            self.bypassed += 1
        token = self.local.begin(key)
        raw = self.r.get(key)
        if raw is not None:
            value, source = loads(raw), "redis"
        else:
            value, source = self._from_db(key, uid, view), "db"
        if trusted:
            self.local.fill(key, value, token)
        return value, source

    def _from_db(self, key: str, uid: int, view: str) -> dict:
        value = _view(self.db.get_user(uid), view)
        store_if_newer(self.r, key, value, self.ttl)
        return value

    def close(self) -> dict:
        status = self.listener.status() if self.listener is not None else {}
        if self.listener is not None:
            self.listener.stop()
        if self.tracking is not None:
            status = {"alive": True, "disconnects": self.tracking.stats["disconnects"],
                      "errors": self.tracking.errors[-5:]}
            self.tracking.close()
        return status


def worker_main(spec: dict, ready, stop, results) -> None:
    """Entry point of one worker process: warm up, report ready, read until told to stop."""
    children.worker_started()
    import sys
    import threading

    def one_line(hook) -> None:  # the naive listener's death goes to stderr, as in production
        print(f"worker {spec.get('id')}: thread {hook.thread.name} died: {hook.exc_value!r}",
              file=sys.stderr)

    threading.excepthook = one_line
    try:
        reader = _Reader(spec)
        rng = random.Random(spec["seed"])
        for uid in range(1, spec["n_users"] + 1):  # warm every copy
            for view in VIEWS:
                reader.read(uid, view)
        ready.put(spec["id"])
        log: list[tuple[float, int, int, int]] = []
        interval = 1.0 / spec["reads_per_s"]
        next_at = time.monotonic()
        while not stop.is_set():
            uid, view = rng.randint(1, spec["n_users"]), rng.choice(VIEWS)
            started = time.time()
            value, source = reader.read(uid, view)
            log.append((started, uid, int(value["version"]), _SOURCES.index(source)))
            next_at += interval
            delay = next_at - time.monotonic()
            if delay > 0:
                time.sleep(delay)  # pacing: a worker serves requests, it does not spin
            else:
                next_at = time.monotonic()
        status = reader.close()
        results.put({"id": spec["id"], "reads": log, "events": reader.events,
                     "ops": reader.r.total_ops, "bypassed": reader.bypassed,
                     "local_copies": len(reader.local) if reader.local is not None else 0,
                     "listener": status})
    except BaseException as exc:  # the parent must hear about it, not wait forever
        ready.put(("error", spec.get("id"), repr(exc)))
        results.put({"id": spec.get("id"), "error": repr(exc)})
        raise


@dataclass
class Run:
    """What one run measured: the raw logs and the analysis."""

    strategy: str
    writes: list[tuple[float, int, int]]
    reads: list[tuple[float, int, int, int, int]]       # (t, uid, version, source, worker)
    workers: list[dict]
    t0: float
    duration: float
    fault_at: float | None = None
    writer_ops: int = 0
    memory_bytes: int = 0
    extra: dict = field(default_factory=dict)
    summary: dict = field(default_factory=dict)


def run_strategy(strategy: str, url: str, db: Database, keys: Keys, *, workers: int = 3,
                 write_rate: float = 10.0, ttl: float = 2.0, duration: float = 3.0,
                 reads_per_s: float = 200.0, n_users: int = 20, fault_at: float | None = None,
                 backoff: float = 0.3, seed: int = 7, progress=None) -> Run:
    """Run ``workers`` reader processes and one writer for ``duration`` seconds; measure staleness.

    ``fault_at`` (seconds after the start): kill every listener connection and publish one
    write in the *same* MULTI, so that write is certain to land while they are away; the
    listeners come back after ``backoff`` seconds (writes continue meanwhile).
    Use a private Redis (``RedisProcess``) for ``url``: the fault kills connections.
    ``progress`` (e.g. ``tqdm.auto.tqdm``) shows the seconds of the run as they pass.
    """
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown strategy {strategy!r}; choose one of {sorted(STRATEGIES)}")
    # Checked here, not in the worker processes: there a refusal is only "failed to start".
    checks.count("workers", workers, high=64, hint=" (reader processes)")
    checks.count("n_users", n_users, high=10**6)
    check_ttl(ttl)
    for name, value in (("write_rate", write_rate), ("duration", duration),
                        ("reads_per_s", reads_per_s)):
        checks.positive(name, value, high=1e6)
    keys = keys.child(strategy)
    admin = redis.Redis.from_url(url)
    delete_prefix(admin, keys)
    writer = CountingRedis.from_url(url, client_name="cachelab-writer")
    spec = {"url": url, "db_path": str(db.path), "db_latency_ms": db.latency_ms,
            "prefix": keys.prefix, "n_users": n_users, "strategy": strategy, "ttl": ttl,
            "reads_per_s": reads_per_s, "channel": keys("channel"), "stream": keys("stream"),
            "backoff": backoff}
    ctx = mp.get_context("spawn")
    ready, results, stop = ctx.Queue(), ctx.Queue(), ctx.Event()
    procs = [ctx.Process(target=worker_main, args=({**spec, "id": i, "seed": seed + i}, ready,
                                                   stop, results), daemon=True)
             for i in range(workers)]
    for p in procs:
        p.start()
        children.track(p.pid, "invalidation worker")
    try:
        _wait_ready(procs, ready)
        if fault_at is not None:  # the fault must find every listener connected: wait for them
            up_by = time.monotonic() + 60
            while not _listeners_up(strategy, admin, spec["channel"], workers) \
                    and time.monotonic() < up_by:
                time.sleep(0.02)
        tags = TagCache(writer, keys.child("tags"), ttl=ttl)
        versions = VersionedCache(writer, keys.child("versions"), ttl=ttl)
        pubsub, stream = PubSubBus(writer, spec["channel"]), StreamBus(writer, spec["stream"])
        writes: list[tuple[float, int, int]] = []
        rng = random.Random(seed)
        t0 = time.time()
        deadline = time.monotonic() + duration
        next_at, faulted, n = time.monotonic(), fault_at is None, 0
        bar = (progress(total=round(duration, 1), desc=strategy, unit="s", leave=False)
               if progress else None)
        while time.monotonic() < deadline:
            uid = rng.randint(1, n_users)
            row = db.update_user(uid, plan=rng.choice(["free", "pro", "team"]),
                                 name=f"User {uid} rev {n}")
            writes.append((time.time(), uid, int(row["version"])))
            fault_now = (not faulted and time.time() - t0 >= fault_at
                         and _listeners_up(strategy, admin, spec["channel"], workers))
            _invalidate(strategy, writer, keys, uid, row, ttl, tags, versions, pubsub, stream,
                        fault=fault_now)
            faulted = faulted or fault_now
            n += 1
            next_at += 1.0 / write_rate
            pause = next_at - time.monotonic()
            if pause > 0:
                time.sleep(pause)  # pacing the writer at write_rate
            if bar is not None:
                bar.update(round(min(duration, time.time() - t0) - bar.n, 1))
        if bar is not None:
            bar.close()
        stop.set()
        got = [results.get(timeout=120) for _ in procs]
    finally:
        stop.set()
        for p in procs:
            p.join(30)
            if p.is_alive():
                p.kill()
            children.untrack(p.pid)
    errors = [g["error"] for g in got if "error" in g]
    if errors:
        raise RuntimeError(f"a worker failed: {errors[0]}")
    reads = [(t, uid, v, src, g["id"]) for g in got for (t, uid, v, src) in g["reads"]]
    run = Run(strategy, writes, sorted(reads), sorted(got, key=lambda g: g["id"]), t0, duration,
              fault_at, writer_ops=writer.total_ops)
    run.memory_bytes, run.extra = _overhead(strategy, admin, keys, got)
    run.summary = analyse(run)
    delete_prefix(admin, keys)
    admin.close()
    writer.close()
    return run


def _wait_ready(procs, ready, timeout: float = 120.0) -> None:
    """Wait for every worker's "ready"; fail fast, naming the cause, if one died instead."""
    waiting, deadline = len(procs), time.monotonic() + timeout
    while waiting:
        try:
            msg = ready.get(timeout=0.5)
        except queue.Empty:
            dead = [p for p in procs if p.exitcode is not None]
            if dead:
                raise RuntimeError(f"worker process exited with code {dead[0].exitcode} before "
                                   "it was ready (see its traceback above)") from None
            if time.monotonic() > deadline:
                raise TimeoutError(f"{waiting} worker(s) not ready after {timeout:.0f}s") from None
            continue
        if isinstance(msg, tuple):
            raise RuntimeError(f"worker {msg[1]} failed to start: {msg[2]}")
        waiting -= 1


def _listeners_up(strategy: str, r: redis.Redis, channel: str, workers: int) -> bool:
    """Whether every worker's listener is connected, so the fault really cuts all of them.

    A worker process that a busy machine started late may not have subscribed yet at
    ``fault_at``; the fault then waits for it (the run's writes go on meanwhile).
    """
    if strategy == "stream":
        return len(listener_ids(r, "cachelab-listener-")) >= workers
    if strategy.startswith("pubsub"):
        return int(r.pubsub_numsub(channel)[0][1]) >= workers
    return True


def _invalidate(strategy, r, keys, uid, row, ttl, tags, versions, pubsub, stream, *, fault):
    """The writer's cache work after the database write, for each strategy."""
    names = [keys("user", uid, view) for view in VIEWS]
    if strategy == "ttl":
        return
    if strategy == "tags":
        tags.invalidate(f"user:{uid}")
        return
    if strategy == "versions":
        versions.bump()
        return
    for name, view in zip(names, VIEWS, strict=True):
        store_if_newer(r, name, _view(row, view), ttl)
    if strategy == "tracking" and not fault:
        return  # Redis sends the invalidations itself
    pipe = r.pipeline(transaction=True)
    if fault:
        # Kill the listeners and publish in one transaction: the event is certain to be
        # sent while they are away (in production the gap is a blip or a restart).
        if strategy == "stream":
            for cid in listener_ids(r, "cachelab-listener-"):
                pipe.execute_command("CLIENT", "KILL", "ID", cid)
        else:
            pipe.execute_command("CLIENT", "KILL", "TYPE", "pubsub")
    if strategy == "stream":
        stream.publish(names, pipe=pipe)
    elif strategy != "tracking":
        pubsub.publish(names, pipe=pipe)
    pipe.execute()


def _overhead(strategy: str, r: redis.Redis, keys: Keys, got: list[dict]) -> tuple[int, dict]:
    """Redis memory the strategy spends beyond the cached values themselves (MEMORY USAGE)."""
    extra: dict = {"local_copies": sum(g["local_copies"] for g in got)}
    if strategy == "stream":
        return memory_of(r, [keys("stream")]), {**extra, "stream_entries": r.xlen(keys("stream"))}
    if strategy == "tags":
        tag_sets = list(scan_keys(r, keys.child("tags").pattern("tag")))
        return memory_of(r, tag_sets), {**extra, "tag_sets": len(tag_sets)}
    if strategy == "versions":
        left = VersionedCache(r, keys.child("versions")).leftover()
        return left["old_bytes"], {**extra, **left}
    if strategy == "tracking":
        return 0, {**extra, **tracking_info(r)}  # the server's table; INFO gives no byte count
    return 0, extra


def stale_reads(writes, reads):
    """Yield ``(read, superseded_at)`` for each stale read.

    ``writes`` are ``(commit_time, id, version)``, ``reads`` start with ``(start_time, id,
    version)``. A read is stale when a newer version was committed before it started;
    ``superseded_at`` is when the first such version was committed (the read is that old).
    """
    by_id: dict[int, list[tuple[float, int]]] = defaultdict(list)
    for t, uid, version in writes:
        by_id[uid].append((t, version))
    for history in by_id.values():
        history.sort()
    for read in reads:
        t, uid, version = read[0], read[1], read[2]
        history = by_id.get(uid, ())
        i = bisect.bisect_right(history, (t, float("inf"))) - 1
        if i < 0 or history[i][1] <= version:
            continue
        j = next(k for k in range(i + 1) if history[k][1] > version)
        yield read, history[j][0]


def analyse(run: Run, bin_s: float = 0.25) -> dict:
    """Stale reads, how stale (p50/max ms), where reads were served, and stale reads over time."""
    ages, stale_times, stale_after = [], [], 0
    workers_after = _after_fault(run)
    sources = [0, 0, 0]
    for source, in ((r[3],) for r in run.reads):
        sources[source] += 1
    for (t, _uid, _v, _src, worker), superseded_at in stale_reads(run.writes, run.reads):
        ages.append((t - superseded_at) * 1000)
        stale_times.append(t)
        back = workers_after.get(worker)
        if back is not None and t >= back and superseded_at < back:
            stale_after += 1  # stale because of a write made while this worker was away
    delays = [(recv - sent) * 1000 for w in run.workers for sent, recv in w["events"]
              if sent == sent]  # NaN sent times (tracking) carry no delay
    n_reads = len(run.reads)
    timeline = defaultdict(int)
    for t in stale_times:
        timeline[int((t - run.t0) // bin_s)] += 1
    bins = int(run.duration // bin_s) + 1
    return {
        "strategy": run.strategy, "reads": n_reads, "writes": len(run.writes),
        "stale_reads": len(ages), "stale_pct": 100 * len(ages) / max(n_reads, 1),
        "staleness_p50_ms": percentile(ages, 50) if ages else 0.0,
        "staleness_max_ms": max(ages) if ages else 0.0,
        "stale_after_reconnect": stale_after if run.fault_at is not None else None,
        "delivery_p50_ms": percentile(delays, 50) if delays else None,
        "delivery_max_ms": max(delays) if delays else None,
        "served": dict(zip(_SOURCES, sources, strict=True)),
        "hit_ratio": (sources[0] + sources[1]) / max(n_reads, 1),
        "writer_ops_per_write": run.writer_ops / max(len(run.writes), 1),
        "reader_ops_per_read": sum(w["ops"] for w in run.workers) / max(n_reads, 1),
        "memory_overhead_bytes": run.memory_bytes,
        "listeners_alive": [w["listener"].get("alive") for w in run.workers],
        "bypassed": sum(w["bypassed"] for w in run.workers),
        "timeline_s": [b * bin_s for b in range(bins)],
        "timeline_stale": [timeline.get(b, 0) for b in range(bins)],
        "extra": run.extra,
    }


def _after_fault(run: Run) -> dict[int, float]:
    """For each worker, when "after reconnect" starts: its reconnect, or the fault plus a grace."""
    if run.fault_at is None:
        return {}
    fault = run.t0 + run.fault_at
    out = {}
    for w in run.workers:
        back = [t for t in w["listener"].get("reconnects", []) if t >= fault]
        # A listener that never came back (the naive one) gets the same grace a live one had.
        out[w["id"]] = back[0] if back else fault + 1.0
    return out

