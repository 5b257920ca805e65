"""Reading from replicas: READONLY, and replication lag measured as stale reads after writes.

Redis replicates asynchronously: the master answers the client first and streams the write to
its replicas afterwards. A read sent to a replica right after a write can therefore return the
old value. WAIT numreplicas timeout blocks until that many replicas acknowledged the writes made
so far *on the same connection*, which buys read-your-writes at the cost of a round trip.
"""

from __future__ import annotations

import contextlib
import threading
import time

from redis.exceptions import MovedError, RedisError

from ..keys import Keys
from .failover import keys_in_slots
from .local import LocalCluster

__all__ = ["replica_pair", "stale_reads", "stale_curve", "background_writes", "reads_per_node"]


def replica_pair(cluster: LocalCluster, index: int = 0) -> tuple[dict, dict]:
    """(master, one of its replicas) as CLUSTER NODES entries."""
    master = cluster.masters()[index]
    replicas = cluster.replicas_of(master["id"])
    if not replicas:
        raise LookupError(f"master {master['port']} has no replica right now")
    return master, replicas[0]


def _spin(seconds: float) -> None:
    # time.sleep() cannot wait 50 µs; spinning on the monotonic clock can.
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


def stale_reads(cluster: LocalCluster, keys: Keys, n: int = 500, *, wait: bool = False,
                delay_s: float = 0.0, readonly: bool = True) -> dict:
    """Write a counter on a master, then read it from its replica ``n`` times; count stale reads.

    ``wait=True`` sends WAIT 1 after each write on the writing connection; ``delay_s`` pauses
    between the write's reply and the replica read. Without ``readonly`` the replica redirects.
    """
    master, replica = replica_pair(cluster)
    key = keys_in_slots(keys.child("lag"), master["slots"], 1)[0]
    writer = cluster.node_client(master["port"], single_connection_client=True)
    # READONLY is a property of one connection, so the reader must keep the same one.
    reader = cluster.node_client(replica["port"], single_connection_client=True)
    if readonly:
        reader.execute_command("READONLY")
    stale = redirected = acked = 0
    lags: list[float] = []
    try:
        for i in range(1, n + 1):
            pipe = writer.pipeline(transaction=False)
            pipe.set(key, i)
            if wait:
                pipe.execute_command("WAIT", 1, 5000)
            replies = pipe.execute()
            done = time.perf_counter()
            if wait and replies[1] >= 1:
                acked += 1
            if delay_s:
                _spin(delay_s)
            try:
                value = reader.get(key)
            except MovedError:  # a replica without READONLY sends every read to its master
                redirected += 1
                continue
            if value is None or int(value) < i:
                stale += 1
                deadline = time.monotonic() + 5
                while int(reader.get(key) or 0) < i:  # until the replica caught up
                    if time.monotonic() > deadline:
                        raise TimeoutError(f"replica {replica['port']} stopped replicating")
                lags.append(time.perf_counter() - done)
    finally:
        writer.delete(key)
        writer.close()
        reader.close()
    return {"reads": n, "stale": stale, "stale_ratio": stale / n, "redirected": redirected,
            "wait_acked": acked, "lag_us": [round(x * 1e6, 1) for x in lags]}


def stale_curve(cluster: LocalCluster, keys: Keys, delays_us: list[float], n: int = 300) -> list[dict]:
    """Stale-read ratio for reads sent ``d`` microseconds after the write's reply, for each ``d``."""
    return [{"delay_us": d, **stale_reads(cluster, keys, n, delay_s=d / 1e6)} for d in delays_us]


@contextlib.contextmanager
def background_writes(cluster: LocalCluster, keys: Keys, threads: int = 3, size: int = 10_000,
                      index: int = 0):
    """Other clients writing ``size``-byte values to master ``index`` while the block runs.

    Their replication traffic is what makes a replica fall behind; yields a dict whose
    ``writes`` entry counts what they wrote.
    """
    master = cluster.masters()[index]
    names = keys_in_slots(keys.child("bg"), master["slots"], threads)
    stop = threading.Event()
    stats = {"writes": 0}
    lock = threading.Lock()

    def work(name: str) -> None:
        client = cluster.node_client(master["port"])
        value = b"x" * size
        n = 0
        while not stop.is_set():
            try:
                client.set(name, value)
                n += 1
            except RedisError:
                break
        with lock:
            stats["writes"] += n
        client.close()

    workers = [threading.Thread(target=work, args=(name,), daemon=True) for name in names]
    for w in workers:
        w.start()
    try:
        time.sleep(0.1)  # let the replication stream fill up
        yield stats
    finally:
        stop.set()
        for w in workers:
            w.join(timeout=10)
        with contextlib.suppress(RedisError):
            cluster.node_client(master["port"]).delete(*names)


def reads_per_node(cluster: LocalCluster, command: str = "get") -> dict[int, int]:
    """How many times each running node has executed ``command`` (INFO commandstats)."""
    out = {}
    for port, proc in cluster.nodes.items():
        if proc.is_alive():
            stats = cluster.node_client(port).info("commandstats")
            out[port] = int(stats.get(f"cmdstat_{command}", {}).get("calls", 0))
    return out
