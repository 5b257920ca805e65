"""A real failover under load: SIGKILL a master and measure what clients and the cluster see.

The load is a small threaded loop of cache-aside reads plus steady writers (one into the victim's
slots, one elsewhere); ``cachelab.load`` may replace it later. Every operation is logged with its
time and outcome, and a watcher polls CLUSTER NODES for the failure flags and the promotion.
"""

from __future__ import annotations

import contextlib
import random
import threading
import time
from dataclasses import dataclass, field

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from ..codec import dumps, loads
from ..keys import Keys
from ..metrics import percentile
from ..progress import counting
from .local import ClusterError, LocalCluster
from .slots import key_slot

__all__ = ["FailoverRun", "run_failover", "failover_demo", "fast_restart_loss",
           "lost_invalidation", "spec_window", "keys_in_slots", "timeline"]


def spec_window(node_timeout_ms: int, rank: int = 0) -> tuple[float, float]:
    """Seconds from a master's crash to its replica's promotion that the cluster spec implies.

    A node flags PFAIL once a ping stays unanswered for NODE_TIMEOUT; pings go out when the
    last pong is NODE_TIMEOUT/2 old, so PFAIL comes 1.0-1.5 x NODE_TIMEOUT after the crash.
    PFAIL becomes FAIL when a majority of masters report it, carried by gossip (up to about
    another NODE_TIMEOUT/2). The replica then waits 500 ms + random(0..500 ms) + rank x 1 s
    before asking for votes, and wins after one round trip to the masters.
    """
    t = node_timeout_ms / 1000
    return (t + 0.5 + rank, 2.0 * t + 1.0 + rank)


def keys_in_slots(keys: Keys, slots: list[tuple[int, int]], n: int, name: str = "k") -> list[str]:
    """``n`` keys from ``keys`` whose slots fall inside ``slots`` (a master's ranges)."""
    out, i = [], 0
    while len(out) < n:
        k = keys(name, i)
        s = key_slot(k)
        if any(lo <= s <= hi for lo, hi in slots):
            out.append(k)
        i += 1
    return out


@dataclass
class FailoverRun:
    """What one failover run measured; times are seconds since the kill."""

    node_timeout_ms: int
    victim_port: int
    replica_port: int
    # (t, hit|miss|error, key on the victim?, seconds the read took including any fallback)
    reads: list[tuple[float, str, bool, float]] = field(default_factory=list)
    writes: list[tuple[float, bool, bool]] = field(default_factory=list)  # (t, ok, victim?)
    flags: dict[str, float] = field(default_factory=dict)  # pfail / fail / promoted
    db_queries: list[float] = field(default_factory=list)

    def write_window(self) -> dict:
        """Failed writes into the victim's slots, and when they succeeded again."""
        victim = [(t, ok) for t, ok, v in self.writes if v and t >= 0]
        failed = [t for t, ok in victim if not ok]
        last_fail = max(failed) if failed else 0.0
        recovered = next((t for t, ok in victim if ok and t > last_fail), None)
        others = [ok for t, ok, v in self.writes if not v and t >= 0]
        return {"failed": len(failed), "first_ok_after_s": recovered, "last_failed_s": last_fail,
                "other_failed": others.count(False), "other_total": len(others),
                "victim_total": len(victim)}

    def hit_ratio(self, start: float, end: float) -> float:
        """Reads served by the cache / all reads, between ``start`` and ``end`` (s since kill)."""
        sel = [o for t, o, _, _ in self.reads if start <= t < end]
        return sel.count("hit") / len(sel) if sel else float("nan")

    def summary(self) -> dict:
        """Plain numbers for ``results``: window, flags, spec bounds, hit ratios."""
        w = self.write_window()
        lo, hi = spec_window(self.node_timeout_ms)
        end = max((t for t, *_ in self.reads), default=0.0)
        recovered = w["first_ok_after_s"] or end
        before = [r for r in self.reads if r[0] < 0]
        during = [r for r in self.reads if 0 <= r[0] < recovered]
        span = max(min(r[0] for r in before), -1e9) if before else 0.0

        def rate(rows, seconds, victim):  # reads/s on the victim's keys or on the others
            n = sum(1 for r in rows if r[2] == victim)
            return n / seconds if seconds > 0 else float("nan")
        return {
            "node_timeout_ms": self.node_timeout_ms, "window_s": w["first_ok_after_s"],
            "failed_victim_writes": w["failed"], "victim_writes": w["victim_total"],
            "failed_other_writes": w["other_failed"], "other_writes": w["other_total"],
            "pfail_s": self.flags.get("pfail"), "fail_s": self.flags.get("fail"),
            "promoted_s": self.flags.get("promoted"), "spec_low_s": lo, "spec_high_s": hi,
            "hit_ratio_before": self.hit_ratio(-1e9, 0.0),
            "hit_ratio_during": self.hit_ratio(0.0, recovered),
            "hit_ratio_after": self.hit_ratio(recovered, end + 1),
            "read_errors": sum(r[1] == "error" for r in self.reads if r[0] >= 0),
            "reads": len(self.reads),
            # Reads on the *surviving* masters' keys: fewer per second, because every reader
            # thread also spends time on failing reads and database fallbacks; and slower each
            # (p99, max) while FAIL without a new master makes the whole cluster answer CLUSTERDOWN.
            "other_reads_per_s_before": rate(before, -span, False),
            "other_reads_per_s_during": rate(during, recovered, False),
            "other_read_p99_ms_before": percentile([r[3] for r in before if not r[2]], 99) * 1000,
            "other_read_p99_ms_during": percentile([r[3] for r in during if not r[2]], 99) * 1000,
            "max_other_read_s": max((r[3] for r in during if not r[2]), default=0.0),
        }


def run_failover(cluster: LocalCluster, keys: Keys, db, *, users: int = 300, threads: int = 6,
                 before_s: float = 2.0, after_s: float = 3.0, limit_s: float = 30.0,
                 ttl: int = 600, victim: int = 0, seed: int = 13, retries: int = 0,
                 progress=None) -> FailoverRun:
    """Run cache-aside load on ``cluster``, SIGKILL master number ``victim`` and record everything.

    Reads fall back to the database when the cache errors (a documented graceful fallback), so
    the run shows the dip in hit ratio and the extra database load while slots have no master.
    ``retries`` is how often redis-py retries a failed command itself (its default is 10, each
    after reloading the slot map). 0 makes every logged operation one attempt: a cache read fails
    fast to the database, and a failed write is counted as failed instead of being hidden inside
    a call that retries across the whole outage (on a busy machine 11 attempts span it).
    Stops ``after_s`` seconds after the victim's slots take writes again, or at ``limit_s``.
    ``progress`` (e.g. ``tqdm.auto.tqdm``) shows the seconds since the kill as they pass.
    """
    if users < 1 or threads < 1 or before_s < 0 or after_s < 0 or limit_s <= 0 or retries < 0:
        raise ValueError("users and threads must be >= 1, durations and retries >= 0 "
                         "(limit_s > 0)")
    master = cluster.masters()[victim]
    attached = cluster.replicas_of(master["id"])
    if not attached:
        raise ClusterError(f"master {master['port']} has no replica, so nothing could take over; "
                           "wait_healthy() after a previous run, or add_replica() first")
    replica = attached[0]
    watcher_port = next(m["port"] for m in cluster.masters() if m["id"] != master["id"])
    run = FailoverRun(cluster.node_timeout_ms, master["port"], replica["port"])
    rc = cluster.client(socket_timeout=1.0, socket_connect_timeout=0.5,
                        retry=Retry(NoBackoff(), retries))
    user_keys = {uid: keys("user", uid) for uid in range(1, users + 1)}
    victim_users = {uid for uid, k in user_keys.items()
                    if any(lo <= key_slot(k) <= hi for lo, hi in master["slots"])}
    with db.latency(0):  # warming is set-up, not part of the measurement
        for uid in user_keys:
            rc.set(user_keys[uid], dumps(db.get_user(uid)), ex=ttl)
    write_keys = {True: keys_in_slots(keys.child("w"), master["slots"], 1)[0]}
    write_keys[False] = next(k for k in (keys("w", "other", i) for i in range(10_000))
                             if not any(lo <= key_slot(k) <= hi for lo, hi in master["slots"]))
    stop = threading.Event()
    lock = threading.Lock()
    kill_at: list[float] = []  # monotonic time of the SIGKILL, once it happened
    flags: dict[str, float] = {}  # absolute monotonic times; made relative at the end

    def reader(n: int) -> None:
        rng = random.Random(seed + n)
        while not stop.is_set():
            uid = rng.randint(1, users)
            t = time.monotonic()
            try:
                raw = rc.get(user_keys[uid])
                outcome = "hit" if raw is not None else "miss"
                if raw is not None:
                    loads(raw)
            except (redis.RedisError, OSError):
                outcome = "error"
            if outcome != "hit":
                row = db.get_user(uid)  # graceful fallback: the database still answers
                with lock:
                    run.db_queries.append(time.monotonic())
                if outcome == "miss":
                    with contextlib.suppress(redis.RedisError, OSError):
                        rc.set(user_keys[uid], dumps(row), ex=ttl)
            with lock:
                run.reads.append((t, outcome, uid in victim_users, time.monotonic() - t))

    def writer(on_victim: bool) -> None:
        i = 0
        while not stop.is_set():
            i += 1
            t = time.monotonic()
            try:
                rc.set(write_keys[on_victim], i)
                ok = True
            except (redis.RedisError, OSError):
                ok = False
            with lock:
                run.writes.append((t, ok, on_victim))
            time.sleep(0.005)

    def watch() -> None:
        node = cluster.node_client(watcher_port, socket_timeout=0.5)
        rep = cluster.node_client(replica["port"], socket_timeout=0.5)
        while not stop.is_set():
            if kill_at:
                with contextlib.suppress(redis.RedisError, OSError):
                    raw = node.execute_command("CLUSTER", "NODES").decode()
                    line = next((ln for ln in raw.splitlines() if ln.startswith(master["id"])), "")
                    seen = set(line.split()[2].split(",")) if line else set()
                    t = time.monotonic()
                    if seen & {"fail?", "fail"}:
                        flags.setdefault("pfail", t)
                    if "fail" in seen:
                        flags.setdefault("fail", t)
                    if "promoted" not in flags and rep.info("replication")["role"] == "master":
                        flags["promoted"] = time.monotonic()
            time.sleep(0.01)

    def recovered_at() -> float | None:
        with lock:
            victim = [(t, ok) for t, ok, v in run.writes if v and t >= kill_at[0]]
        last_fail = max((t for t, ok in victim if not ok), default=kill_at[0])
        return next((t for t, ok in victim if ok and t > last_fail), None)

    workers = [threading.Thread(target=reader, args=(n,), daemon=True) for n in range(threads)]
    workers += [threading.Thread(target=writer, args=(v,), daemon=True) for v in (True, False)]
    workers.append(threading.Thread(target=watch, daemon=True))
    for w in workers:
        w.start()
    bar = None
    try:
        time.sleep(before_s)  # the load runs un-faulted first: the "before" of every ratio
        kill_at.append(time.monotonic())
        cluster.kill(master["port"])
        if progress is not None:
            bar = progress(total=limit_s, desc="seconds since the SIGKILL", unit="s", leave=False)
        while time.monotonic() < kill_at[0] + limit_s:
            rec = recovered_at()
            if rec is not None and "promoted" in flags and time.monotonic() > rec + after_s:
                break
            if bar is not None:
                bar.update(round(time.monotonic() - kill_at[0] - bar.n, 2))
            time.sleep(0.05)
    finally:
        if bar is not None:
            bar.close()
        stop.set()
        for w in workers:
            w.join(timeout=10)
        rc.close()
    t0 = kill_at[0] if kill_at else time.monotonic()
    run.reads = sorted((t - t0, o, v, d) for t, o, v, d in run.reads)
    run.writes = sorted((t - t0, ok, v) for t, ok, v in run.writes)
    run.db_queries = sorted(t - t0 for t in run.db_queries)
    run.flags = {k: t - t0 for k, t in flags.items()}
    return run


def timeline(run: FailoverRun, bin_s: float = 0.25) -> list[dict]:
    """Per time bin: reads, hit ratio, cache errors, database queries and failed victim writes."""
    if bin_s <= 0:
        raise ValueError("bin_s must be positive")
    start = min((r[0] for r in run.reads), default=0.0)
    end = max((r[0] for r in run.reads), default=0.0)
    rows = []
    b = start
    while b <= end:
        sel = [r[1] for r in run.reads if b <= r[0] < b + bin_s]
        rows.append({
            "t": round(b, 6), "reads_per_s": len(sel) / bin_s,
            "hit_ratio": sel.count("hit") / len(sel) if sel else None,
            "errors": sel.count("error"),
            "db_queries": sum(b <= t < b + bin_s for t in run.db_queries),
            "failed_writes": sum(1 for t, ok, v in run.writes if v and not ok and b <= t < b + bin_s),
        })
        b += bin_s
    return rows


def failover_demo(cluster: LocalCluster, keys: Keys, db, *, node_timeout_ms: int | None = None,
                  full_coverage: bool = True, **kwargs) -> FailoverRun:
    """One :func:`run_failover` with the given settings, then bring the killed node back.

    The old master restarts with its nodes.conf and rejoins as a replica of its old replica;
    the call returns once every master has a synced replica again, ready for the next run.
    """
    if node_timeout_ms is not None:
        cluster.configure(cluster_node_timeout=node_timeout_ms)
    cluster.configure(cluster_require_full_coverage="yes" if full_coverage else "no")
    run = run_failover(cluster, keys, db, **kwargs)
    cluster.restart(run.victim_port)
    cluster.wait_healthy(60)
    return run


def fast_restart_loss(cluster: LocalCluster, keys: Keys, n: int = 100) -> dict:
    """Confirm ``n`` writes with WAIT, crash their master and restart it at once; count survivors.

    With persistence off the master comes back empty. It restarts well inside the node timeout
    (raised to 5 s here so that no failover can win the race), is still the master of its
    slots, and its replica resyncs from it - to nothing. The cluster is healthy afterwards.
    """
    old_timeout = cluster.node_timeout_ms
    cluster.configure(cluster_node_timeout=max(5000, old_timeout))
    try:
        master = cluster.masters()[0]
        replica = cluster.replicas_of(master["id"])[0]
        names = keys_in_slots(keys.child("restart"), master["slots"], n)
        pipe = cluster.node_client(master["port"]).pipeline(transaction=False)
        for name in names:
            pipe.set(name, "confirmed")
        pipe.execute_command("WAIT", 1, 5000)
        confirmed = pipe.execute()[-1]
        cluster.kill(master["port"])
        cluster.restart(master["port"])
        cluster.wait_healthy(60)
        reader = cluster.node_client(replica["port"], single_connection_client=True)
        reader.execute_command("READONLY")
        on_master_client = cluster.node_client(master["port"])  # one client, not one per key
        on_master = sum(on_master_client.exists(k) for k in names)
        on_replica = sum(reader.exists(k) for k in names)
        on_master_client.close()
        reader.close()
        still_master = "master" in next(x for x in cluster.nodes_view()
                                        if x["port"] == master["port"])["flags"]
    finally:
        cluster.configure(cluster_node_timeout=old_timeout)
    return {"written": n, "wait_confirmed_replicas": confirmed, "survived_on_master": on_master,
            "survived_on_replica": on_replica, "restarted_node_still_master": still_master}


def lost_invalidation(cluster: LocalCluster, keys: Keys, pause_ms: int = 4000,
                      limit_s: float = 30.0, progress: bool = False) -> dict:
    """An acknowledged DEL that never reached the replica, then a failover: the old value is back.

    The replica is stalled with CLIENT PAUSE WRITE (it then holds back the replication stream),
    the cache entry is deleted on the master (acknowledged; WAIT shows 0 replicas have it), and
    the master crashes. The promoted replica still serves the value the DEL removed.
    ``progress`` shows a bar over those stages.
    """
    bar = counting(4, "pause, DEL, crash, failover", unit="stage", enabled=progress)
    master = cluster.masters()[0]
    replica = cluster.replicas_of(master["id"])[0]
    key = keys_in_slots(keys.child("inval"), master["slots"], 1)[0]
    writer = cluster.node_client(master["port"], single_connection_client=True)
    writer.set(key, dumps({"plan": "free"}))
    before = writer.execute_command("WAIT", 1, 2000)
    cluster.node_client(replica["port"]).execute_command("CLIENT", "PAUSE", pause_ms, "WRITE")
    deleted = writer.delete(key)  # the invalidation after a database update: acknowledged
    replicated = writer.execute_command("WAIT", 1, 100)
    writer.close()
    bar.update()
    t0 = time.monotonic()
    cluster.kill(master["port"])
    rc = cluster.client(socket_timeout=1.0, socket_connect_timeout=0.5)
    value, took = None, None
    while time.monotonic() < t0 + limit_s:
        try:
            value = rc.get(key)
            took = time.monotonic() - t0
            break
        except (redis.RedisError, OSError):
            time.sleep(0.05)
    bar.update()
    time.sleep(max(0.0, pause_ms / 1000 - (time.monotonic() - t0)) + 0.2)
    later = rc.get(key)  # after the pause ended: still there, the DEL is gone for good
    rc.delete(key)
    rc.close()
    bar.update()
    cluster.restart(master["port"])
    cluster.wait_healthy(60)
    bar.update()
    bar.close()
    return {"set_on_replica": before, "del_acknowledged": deleted, "del_on_replicas": replicated,
            "served_after_failover": None if value is None else loads(value),
            "served_after_pause": None if later is None else loads(later), "failover_s": took}
