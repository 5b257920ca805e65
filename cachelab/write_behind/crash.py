"""Crash tests with real processes killed by SIGKILL, and the worker/app processes they kill.

    python -m cachelab.write_behind.crash worker --redis URL --prefix P --db PATH ...
    python -m cachelab.write_behind.crash memory-app ...   (writes, logs acks, gets killed)
    python -m cachelab.write_behind.crash exit-app ...     (writes, then exits normally)

The parent functions start these with ``subprocess`` (a fresh interpreter, as a crashed and
restarted service would be), kill them with SIGKILL at a chosen moment, and then compare
what was acknowledged with what the database holds.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import redis

from .. import children
from ..db import Database
from ..keys import Keys
from ..progress import advance_to, counting
from .durable import GROUP, StreamWorker, StreamWriteBehind, _url_of, queue_keys

__all__ = ["durable_crash_test", "memory_crash_test", "exit_test", "spawn"]


def _keys(prefix: str) -> Keys:
    k = Keys.__new__(Keys)
    k.prefix = prefix
    return k


def spawn(mode: str, r: redis.Redis, db: Database, keys: Keys, *extra: str,
          module: str = "cachelab.write_behind.crash") -> subprocess.Popen:
    """Start ``python -m <module> <mode>`` against our Redis and database (module: this one)."""
    cmd = [sys.executable, "-m", module, mode, "--redis", _url_of(r),
           "--prefix", keys.prefix, "--db", str(db.path), "--users", str(db.n_users),
           "--orders", str(db.n_orders), "--latency", str(db.latency_ms), *extra]
    logs = db.path.parent / "logs"
    logs.mkdir(exist_ok=True)
    with open(logs / f"{keys.prefix.replace(':', '_')}-{mode}.log", "ab") as log:
        # stderr to a file: a traceback from a child is kept, and no pipe can fill and block it
        return children.popen(cmd, what=f"write-behind {mode} worker", stdin=subprocess.DEVNULL,
                              stdout=subprocess.DEVNULL, stderr=log, start_new_session=True)


def _kill(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    children.untrack(proc.pid)


def _stop(proc: subprocess.Popen, timeout: float = 15) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill(proc)
    children.untrack(proc.pid)


def _next_id(db: Database) -> int:
    with db.latency(0):
        return (db.query("SELECT COALESCE(MAX(id), 0) AS m FROM users")[0]["m"] or 0) + 1_000


def _new_user(uid: int, tag: str) -> dict:
    return {"name": f"{tag} {uid}", "email": f"{tag}.{uid}@example.com", "country": "DE",
            "plan": "free"}


def _rows_from(db: Database, first_id: int) -> list[dict]:
    with db.latency(0):
        return db.query("SELECT id, name, email, version FROM users WHERE id >= ? ORDER BY id",
                        (first_id,))


def durable_crash_test(r: redis.Redis, db: Database, keys: Keys, *, writes: int = 10_000,
                       kills: int = 3, workers: int = 2, producers: int = 4, batch_size: int = 50,
                       claim_idle_ms: int = 1000, commit_crashes: int = 1,
                       timeout: float = 300, progress=None, bar: bool = False) -> dict:
    """Write ``writes`` new users through the stream while SIGKILLing workers mid-batch.

    Until ``kills`` workers have died holding unacknowledged entries (mid-batch), a worker
    that holds some is SIGKILLed and replaced.
    ``commit_crashes`` extra workers SIGKILL themselves at the worst moment: right after a
    database commit, before XACK, so their batch is delivered again and must not double-apply.
    ``progress(message)`` hears of each kill; ``bar`` shows the rows applied so far.
    """
    wb = StreamWriteBehind(r, db, keys)  # raises QueueNotSafe if the queue could be evicted
    q = queue_keys(keys)
    first_id = _next_id(db)
    tag = f"dur{first_id}"
    worker_args = ("--batch", str(batch_size), "--claim-idle", str(claim_idle_ms))
    names = iter(f"worker-{n}" for n in range(1000))
    procs: dict[str, subprocess.Popen] = {}

    def start_worker() -> None:
        name = next(names)
        procs[name] = spawn("worker", r, db, keys, "--consumer", name, *worker_args)

    for _ in range(workers):
        start_worker()
    doomed = [spawn("worker", r, db, keys, "--consumer", f"doomed-{n}", "--die-after-commit",
                    *worker_args) for n in range(commit_crashes)]
    acked: list[int] = []
    errors: list[str] = []

    def produce(ids: range) -> None:
        for uid in ids:
            try:
                wb.insert(uid, **_new_user(uid, tag))
            except Exception as exc:  # not acknowledged: the caller would see this error
                errors.append(f"{uid}: {exc}")
                continue
            acked.append(uid)  # list.append is atomic under the GIL

    share = -(-writes // producers)
    threads = [threading.Thread(target=produce, args=(range(first_id + i * share,
               first_id + min(writes, (i + 1) * share)),)) for i in range(producers)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    kill_log: list[dict] = []
    deadline = t0 + timeout
    applied_bar = counting(writes, "rows applied by the workers", unit="row", enabled=bar)
    try:
        mid_batch = 0
        while mid_batch < kills and time.monotonic() < deadline:
            applied = int(r.hget(q["stats"], "applied") or 0)
            advance_to(applied_bar, applied)
            if applied >= (mid_batch + 1) * writes / (kills + 1):
                pending = {c["name"].decode(): c["pending"]
                           for c in r.xinfo_consumers(q["stream"], GROUP)}
                victim = next((n for n, p in procs.items() if p.poll() is None
                               and pending.get(n, 0) > 0), None)
                if victim is not None:  # it held unacknowledged entries a moment ago
                    _kill(procs.pop(victim))
                    stranded = len(r.xpending_range(q["stream"], GROUP, "-", "+", 10_000,
                                                    consumername=victim))
                    # It may have finished its batch between our look and the kill: then it
                    # died between batches, which proves nothing, so it does not count.
                    mid_batch += stranded > 0
                    kill_log.append({"consumer": victim, "at_applied": applied,
                                     "stranded": stranded, "mid_batch": stranded > 0,
                                     "t": round(time.monotonic() - t0, 3)})
                    if progress:
                        progress(f"killed {victim} holding {stranded} unacknowledged entries")
                    start_worker()
            time.sleep(0.01)
        for t in threads:
            t.join(max(0.0, deadline - time.monotonic()))
        t_acked = time.monotonic() - t0
        while time.monotonic() < deadline:
            advance_to(applied_bar, int(r.hget(q["stats"], "applied") or 0))
            if r.xlen(q["stream"]) == 0 and wb.pending() == 0:
                break
            time.sleep(0.05)
        t_drained = time.monotonic() - t0
    finally:
        applied_bar.close()
        for proc in [*procs.values(), *doomed]:
            _stop(proc)
    StreamWorker(r, db, keys, consumer="auditor").prune_consumers(idle_ms=0)
    rows = _rows_from(db, first_id)
    db_ids = [row["id"] for row in rows]
    acked_set = set(acked)
    wrong = [row["id"] for row in rows if row["version"] != 1
             or (row["name"], row["email"]) != (f"{tag} {row['id']}", f"{tag}.{row['id']}@example.com")]
    stats = wb.stats()
    return {
        "writes": writes, "acked": len(acked), "errors": len(errors), "kills": kill_log,
        "mid_batch_kills": sum(k["mid_batch"] for k in kill_log),
        "commit_crashes": sum(p.returncode == -signal.SIGKILL for p in doomed),
        "db_rows": len(db_ids), "distinct_db_rows": len(set(db_ids)),
        "lost": len(acked_set - set(db_ids)), "unacked_in_db": len(set(db_ids) - acked_set),
        "wrong_rows": len(wrong), "pending": wb.pending(), "stream_len": r.xlen(q["stream"]),
        "dead": r.xlen(q["dead"]), "claimed": stats.get("claimed", 0),
        "redelivered_already_committed": stats.get("skipped", 0),
        "batches": stats.get("batches", 0), "acked_entries": stats.get("acked", 0),
        "seconds_to_ack": round(t_acked, 3), "seconds_to_drain": round(t_drained, 3),
    }


def memory_crash_test(r: redis.Redis, db: Database, keys: Keys, *, writes: int = 5000,
                      batch_size: int = 100, flush_interval: float = 0.05,
                      kill_at: float = 0.3, workdir: str | os.PathLike | None = None,
                      timeout: float = 120, bar: bool = False) -> dict:
    """Run the in-memory variant in a process, SIGKILL it mid-run, count acknowledged losses.

    ``bar`` shows the writes acknowledged so far (the kill comes at ``kill_at`` of them).
    """
    first_id = _next_id(db)
    workdir = Path(workdir or db.path.parent)
    ack_file = workdir / f"acked-{first_id}.log"
    proc = spawn("memory-app", r, db, keys, "--first-id", str(first_id), "--count", str(writes),
                 "--acked", str(ack_file), "--batch", str(batch_size),
                 "--interval", str(flush_interval))
    killed, queued_at_kill, deadline = False, None, time.monotonic() + timeout
    acked_bar = counting(writes, "writes acknowledged", unit="write", enabled=bar)
    try:
        while proc.poll() is None and time.monotonic() < deadline:
            acked = _read_acks(ack_file)
            advance_to(acked_bar, len(acked))
            if len(acked) >= kill_at * writes:
                with db.latency(0):
                    in_db = db.query("SELECT COUNT(*) AS n FROM users WHERE id >= ?",
                                     (first_id,))[0]["n"]
                if len(acked) - in_db >= batch_size:  # a batch or more is only in memory
                    _kill(proc)
                    killed, queued_at_kill = True, len(acked) - in_db
                    break
            time.sleep(0.005)
    finally:
        acked_bar.close()
        if proc.poll() is None:
            _kill(proc)
    acked = _read_acks(ack_file)
    db_ids = {row["id"] for row in _rows_from(db, first_id)}
    lost = sorted(set(acked) - db_ids)
    from ._store import RecordStore

    store = RecordStore(r, keys)
    pinned = sum(1 for uid in lost if r.ttl(store.key(uid)) == -1)
    ack_file.unlink(missing_ok=True)
    return {"writes": writes, "killed": killed, "acked": len(acked), "db_rows": len(db_ids),
            "lost": len(lost), "queued_at_kill": queued_at_kill,
            "lost_but_in_cache": pinned}


def exit_test(r: redis.Redis, db: Database, keys: Keys, *, variant: str = "brief",
              writes: int = 200, timeout: float = 60) -> dict:
    """Update ``writes`` users from a process that then exits normally; count what reached the DB."""
    if variant not in ("brief", "memory"):
        raise ValueError("variant is 'brief' or 'memory'")
    writes = min(writes, db.n_users)
    marker = f"exit-{variant}-{time.time_ns()}"
    proc = spawn("exit-app", r, db, keys, "--variant", variant, "--count", str(writes),
                 "--marker", marker)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill(proc)
    with db.latency(0):
        landed = db.query("SELECT COUNT(*) AS n FROM users WHERE plan = ?", (marker,))[0]["n"]
    return {"variant": variant, "writes": writes, "in_db": landed, "lost": writes - landed,
            "exit_code": proc.returncode}


def _read_acks(path: Path) -> list[int]:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return []
    return [int(x) for x in data.split(b"\n")[:-1] if x]  # the last piece may be half-written


# -- the child processes ------------------------------------------------------------------------

def _open(args) -> tuple[redis.Redis, Database, Keys]:
    from ..server import connect

    r = connect(args.redis)
    db = Database(args.db, latency_ms=args.latency, users=args.users, orders=args.orders)
    return r, db, _keys(args.prefix)


def _worker(args) -> None:
    r, db, keys = _open(args)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())

    def die_after_commit(consumer, entry_ids):  # the worst moment: committed, not acknowledged
        os.kill(os.getpid(), signal.SIGKILL)

    StreamWorker(r, db, keys, consumer=args.consumer, batch_size=args.batch, block_ms=100,
                 claim_idle_ms=args.claim_idle,
                 on_batch=die_after_commit if args.die_after_commit else None).run(stop)


def _memory_app(args) -> None:
    from .memory import MemoryWriteBehind

    r, db, keys = _open(args)
    fd = os.open(args.acked, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    wb = MemoryWriteBehind(r, db, keys, batch_size=args.batch, flush_interval=args.interval,
                           max_pending=max(args.batch, args.count))
    for uid in range(args.first_id, args.first_id + args.count):
        wb.insert(uid, **_new_user(uid, f"mem{args.first_id}"))
        os.write(fd, f"{uid}\n".encode())  # acknowledged to the caller: record it
    wb.close()


def _exit_app(args) -> None:
    r, db, keys = _open(args)
    if args.variant == "brief":
        from .brief import BriefWriteBehind

        wb = BriefWriteBehind(r, db, keys.child("brief"))
        for uid in range(1, args.count + 1):
            wb.update_user(uid, {"plan": args.marker})
    else:
        from .memory import MemoryWriteBehind

        wb = MemoryWriteBehind(r, db, keys.child("memory"), batch_size=50)
        for uid in range(1, args.count + 1):
            wb.write(uid, plan=args.marker)
    # Return without close(): the process exits the normal way, as a script would.


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m cachelab.write_behind.crash")
    parser.add_argument("mode", choices=["worker", "memory-app", "exit-app"])
    for name in ("--redis", "--prefix", "--db"):
        parser.add_argument(name, required=True)
    parser.add_argument("--users", type=int, default=2000)
    parser.add_argument("--orders", type=int, default=8000)
    parser.add_argument("--latency", type=float, default=20.0)
    parser.add_argument("--consumer")
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--claim-idle", type=int, default=1000)
    parser.add_argument("--die-after-commit", action="store_true")
    parser.add_argument("--first-id", type=int)
    parser.add_argument("--count", type=int)
    parser.add_argument("--acked")
    parser.add_argument("--interval", type=float, default=0.05)
    parser.add_argument("--variant", default="brief")
    parser.add_argument("--marker", default="exit")
    args = parser.parse_args(argv)
    {"worker": _worker, "memory-app": _memory_app, "exit-app": _exit_app}[args.mode](args)


if __name__ == "__main__":
    main()
