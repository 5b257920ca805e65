"""Move hash slots between masters by hand: IMPORTING/MIGRATING, MIGRATE, SETSLOT NODE.

This is what ``redis-cli --cluster reshard/rebalance`` does, kept small enough to read. A slot
can be left half-moved on purpose (:func:`begin_migration` + :func:`migrate_keys`) to see ASK
redirects; :func:`finish_migration` hands the slot over and turns them into MOVED.
"""

from __future__ import annotations

from collections.abc import Iterable

from ..progress import counting
from .local import LocalCluster
from .slots import SLOTS

__all__ = ["begin_migration", "migrate_keys", "finish_migration", "move_slot", "move_slots",
           "rebalance_onto"]

_MIGRATE_TIMEOUT_MS = 5000


def begin_migration(cluster: LocalCluster, slot: int, dst_port: int) -> int:
    """Mark ``slot`` IMPORTING on the target and MIGRATING on its owner; return the owner's port."""
    src = cluster.slot_owner(slot)
    if src["port"] == dst_port:
        raise ValueError(f"slot {slot} already lives on {dst_port}")
    dst_id = cluster.node_id(dst_port)
    # Order matters: the target must accept ASKING before the source starts sending clients there.
    cluster.node_client(dst_port).execute_command("CLUSTER", "SETSLOT", slot, "IMPORTING", src["id"])
    cluster.node_client(src["port"]).execute_command("CLUSTER", "SETSLOT", slot, "MIGRATING", dst_id)
    return src["port"]


def migrate_keys(cluster: LocalCluster, slot: int, src_port: int, dst_port: int,
                 limit: int | None = None, batch: int = 100) -> int:
    """MIGRATE up to ``limit`` keys of ``slot`` from source to target (all if None); return how many."""
    src = cluster.node_client(src_port, socket_timeout=10)
    moved = 0
    while limit is None or moved < limit:
        want = batch if limit is None else min(batch, limit - moved)
        names = src.execute_command("CLUSTER", "GETKEYSINSLOT", slot, want)
        if not names:
            break
        src.execute_command("MIGRATE", "127.0.0.1", dst_port, "", 0, _MIGRATE_TIMEOUT_MS,
                            "KEYS", *names)
        moved += len(names)
    return moved


def finish_migration(cluster: LocalCluster, slot: int, src_port: int, dst_port: int) -> int:
    """Move the rest of the slot's keys, then assign the slot to the target on every master."""
    moved = migrate_keys(cluster, slot, src_port, dst_port)
    dst_id = cluster.node_id(dst_port)
    # Target first (it bumps its epoch and starts owning the slot), then the source, then the rest.
    order = [dst_port, src_port] + [m["port"] for m in cluster.masters()
                                    if m["port"] not in (dst_port, src_port)]
    for port in order:
        cluster.node_client(port).execute_command("CLUSTER", "SETSLOT", slot, "NODE", dst_id)
    return moved


def move_slot(cluster: LocalCluster, slot: int, dst_port: int) -> int:
    """Move one slot with all its keys to ``dst_port``; return how many keys moved."""
    src_port = begin_migration(cluster, slot, dst_port)
    return finish_migration(cluster, slot, src_port, dst_port)


def move_slots(cluster: LocalCluster, slots: Iterable[int], dst_port: int, *,
               progress: bool = False) -> int:
    """Move many slots to ``dst_port``, pipelined per node; return the number of keys moved.

    ``progress`` shows a bar over the slots as their keys migrate.
    """
    slots = sorted(set(slots))
    owners = cluster.slot_map()
    by_src: dict[int, list[int]] = {}
    for s in slots:
        if owners[s] != dst_port:
            by_src.setdefault(owners[s], []).append(s)
    ids = {p: cluster.node_id(p) for p in {*by_src, dst_port}}
    dst = cluster.node_client(dst_port, socket_timeout=30)
    moved = 0
    bar = counting(sum(map(len, by_src.values())), "slots migrated", unit="slot",
                   enabled=progress)
    for src_port, mine in by_src.items():
        src = cluster.node_client(src_port, socket_timeout=30)
        pipe = dst.pipeline(transaction=False)
        for s in mine:
            pipe.execute_command("CLUSTER", "SETSLOT", s, "IMPORTING", ids[src_port])
        pipe.execute()
        pipe = src.pipeline(transaction=False)
        for s in mine:
            pipe.execute_command("CLUSTER", "SETSLOT", s, "MIGRATING", ids[dst_port])
        pipe.execute()
        pipe = src.pipeline(transaction=False)
        for s in mine:
            pipe.execute_command("CLUSTER", "COUNTKEYSINSLOT", s)
        for s, n in zip(mine, pipe.execute(), strict=True):
            if n:
                moved += migrate_keys(cluster, s, src_port, dst_port, batch=500)
            bar.update()
    bar.close()
    masters = [m["port"] for m in cluster.masters()]
    for port in [dst_port, *by_src, *(p for p in masters if p != dst_port and p not in by_src)]:
        pipe = cluster.node_client(port, socket_timeout=30).pipeline(transaction=False)
        for s in slots:
            pipe.execute_command("CLUSTER", "SETSLOT", s, "NODE", ids[dst_port])
        pipe.execute()
    return moved


def rebalance_onto(cluster: LocalCluster, new_port: int, *, progress: bool = False) -> list[int]:
    """Give an empty master its fair share: 1/N of the slots, taken evenly from the others.

    Only those slots move (the minimum), which is why adding a node to a Redis Cluster moves
    about 1/N of the keys. Returns the slots that moved. ``progress``: see :func:`move_slots`.
    """
    owners = cluster.slot_map()
    donors = sorted({p for p in owners if p != new_port})
    n = len(donors) + 1
    fair = [SLOTS // n + (1 if i < SLOTS % n else 0) for i in range(n)]
    take: list[int] = []
    for i, port in enumerate(donors):
        theirs = [s for s, p in enumerate(owners) if p == port]
        give = max(0, len(theirs) - fair[i])
        take += theirs[len(theirs) - give:]  # the top of each range, as redis-cli does
    move_slots(cluster, take, new_port, progress=progress)
    cluster._wait(lambda: all(cluster._state_ok(p) for p in cluster.nodes
                              if cluster.nodes[p].is_alive()), 30, "the cluster did not settle")
    # Nodes not part of a move learn the new owner by gossip; on a busy machine that lags, and
    # a slot map read from such a node would still show the old owner.
    cluster._wait(lambda: _owned_everywhere(cluster, take, new_port), 30,
                  "not every node learned the new owner of the moved slots")
    return take


def _owned_everywhere(cluster: LocalCluster, slots: list[int], port: int) -> bool:
    """Whether every live node's CLUSTER NODES gives all ``slots`` to ``port``."""
    want = set(slots)
    for p, proc in cluster.nodes.items():
        if not proc.is_alive():
            continue
        owned = {s for n in cluster.nodes_view(p) if n["port"] == port
                 for lo, hi in n["slots"] for s in range(lo, hi + 1)}
        if not want <= owned:
            return False
    return True
