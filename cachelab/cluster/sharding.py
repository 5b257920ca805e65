"""Client-side sharding over plain Redis servers: modulo hashing against a consistent-hash ring.

Before Redis Cluster, clients spread keys over several servers themselves. ``hash(key) % N``
is the obvious way and the wrong one: change N and almost every key maps elsewhere, so the
cache empties at once. A consistent-hash ring (Karger et al., 1997; ketama in memcached clients)
moves only the keys the new node takes over, about 1/N of them.
"""

from __future__ import annotations

import bisect
import hashlib
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence

import redis

__all__ = ["ModuloSharding", "ConsistentHashRing", "stable_hash", "placement", "moved_fraction",
           "ShardedCache"]


def stable_hash(text: str | bytes) -> int:
    """A 64-bit hash that is the same in every process (Python's hash() is salted per process)."""
    data = text.encode() if isinstance(text, str) else text
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "big")


class ModuloSharding:
    """``nodes[hash(key) % len(nodes)]``: even, simple, and reshuffles nearly everything on resize."""

    def __init__(self, nodes: Sequence[str]):
        if not nodes:
            raise ValueError("need at least one node")
        self.nodes = list(nodes)

    def node_for(self, key: str | bytes) -> str:
        """The node that holds ``key``."""
        return self.nodes[stable_hash(key) % len(self.nodes)]

    def add(self, node: str) -> None:
        """Add a node (N grows by one: most keys change node)."""
        self.nodes.append(node)


class ConsistentHashRing:
    """Each node owns ``vnodes`` points on a 64-bit ring; a key belongs to the next point clockwise.

    Virtual nodes even out the share per node (with one point each, shares vary wildly).
    """

    def __init__(self, nodes: Iterable[str] = (), vnodes: int = 160):
        if vnodes < 1:
            raise ValueError(f"vnodes must be >= 1, got {vnodes}")
        self.vnodes = vnodes
        self._points: list[int] = []
        self._owner: dict[int, str] = {}
        for node in nodes:
            self.add(node)

    @property
    def nodes(self) -> list[str]:
        """The nodes on the ring."""
        return sorted(set(self._owner.values()))

    def add(self, node: str) -> None:
        """Put ``node``'s virtual points on the ring; only keys landing before them move."""
        for i in range(self.vnodes):
            point = stable_hash(f"{node}#{i}")
            if point in self._owner:  # a 64-bit collision: astronomically rare, skip the point
                continue
            bisect.insort(self._points, point)
            self._owner[point] = node

    def remove(self, node: str) -> None:
        """Take ``node`` off the ring; its keys go to the next points clockwise."""
        self._points = [p for p in self._points if self._owner[p] != node]
        self._owner = {p: n for p, n in self._owner.items() if n != node}

    def node_for(self, key: str | bytes) -> str:
        """The node that holds ``key``."""
        if not self._points:
            raise LookupError("the ring is empty: add() a node first")
        i = bisect.bisect_right(self._points, stable_hash(key)) % len(self._points)
        return self._owner[self._points[i]]


def placement(router, keys: Iterable[str]) -> dict[str, str]:
    """``{key: node}`` under ``router`` (anything with ``node_for``)."""
    return {k: router.node_for(k) for k in keys}


def moved_fraction(before: Mapping[str, object], after: Mapping[str, object]) -> float:
    """Share of keys whose node differs between two placements."""
    if not before:
        return 0.0
    return sum(before[k] != after.get(k) for k in before) / len(before)


class ShardedCache:
    """GET/SET over several plain Redis servers, routed on the client by ``router``.

    ``servers`` maps node names (as the router knows them) to redis-py clients.
    """

    def __init__(self, servers: Mapping[str, redis.Redis], router):
        self.servers = dict(servers)
        self.router = router
        self.counts: Counter[str] = Counter()

    def set_many(self, items: Mapping[str, bytes | str | int], ex: int | None = None) -> None:
        """Write many keys, one pipeline per server."""
        pipes = {}
        for key, value in items.items():
            node = self.router.node_for(key)
            pipe = pipes.setdefault(node, self.servers[node].pipeline(transaction=False))
            pipe.set(key, value, ex=ex)
        for pipe in pipes.values():
            pipe.execute()

    def get_many(self, keys: Sequence[str]) -> dict[str, bytes | None]:
        """Read many keys, one MGET per server; counts hits and misses."""
        by_node: dict[str, list[str]] = {}
        for key in keys:
            by_node.setdefault(self.router.node_for(key), []).append(key)
        out: dict[str, bytes | None] = {}
        for node, ks in by_node.items():
            for key, value in zip(ks, self.servers[node].mget(ks), strict=True):
                out[key] = value
                self.counts["hits" if value is not None else "misses"] += 1
        return out

    def spread(self) -> dict[str, int]:
        """Keys each server holds right now (DBSIZE; the servers are private to this cache)."""
        return {name: client.dbsize() for name, client in self.servers.items()}
