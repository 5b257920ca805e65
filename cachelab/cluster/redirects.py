"""Follow MOVED and ASK by hand with plain redis-py clients, and count every redirect.

RedisCluster hides redirects: it keeps a slot -> node map (from CLUSTER SLOTS) and patches it
when a MOVED arrives. :class:`HandRouter` does the same job in the open, with the slot cache
switchable, so a notebook can count what each strategy costs in round trips.
"""

from __future__ import annotations

from collections import Counter

import redis
from redis.exceptions import AskError, MovedError

from .local import LocalCluster
from .slots import key_slot

__all__ = ["HandRouter", "parse_redirect", "server_redirects"]


def parse_redirect(exc: redis.ResponseError) -> tuple[str, int, int] | None:
    """('MOVED'|'ASK', slot, port) from a redirect error, or None for any other error.

    redis-py turns the server's ``-MOVED 3999 127.0.0.1:6381`` reply into MovedError (a
    subclass of AskError) with the slot and address already parsed.
    """
    if isinstance(exc, MovedError):
        return "MOVED", exc.slot_id, exc.port
    if isinstance(exc, AskError):
        return "ASK", exc.slot_id, exc.port
    return None


class HandRouter:
    """Send single-key commands to a cluster through plain clients, following redirects.

    ``cache="none"`` sends everything to one entry node; ``"learn"`` remembers the node a MOVED
    named for that slot; ``"full"`` loads the whole map from CLUSTER SLOTS first (RedisCluster's
    strategy). ``counts`` tallies commands, MOVED, ASK and round trips.
    """

    def __init__(self, cluster: LocalCluster, cache: str = "learn", entry_port: int | None = None):
        if cache not in ("none", "learn", "full"):
            raise ValueError(f"cache must be 'none', 'learn' or 'full', not {cache!r}")
        self.cluster = cluster
        self.cache = cache
        self.entry = entry_port or cluster.masters()[0]["port"]
        self.slots: dict[int, int] = {}
        self.counts: Counter[str] = Counter()
        self._clients: dict[int, redis.Redis] = {}
        if cache == "full":
            self.refresh()

    def _client(self, port: int) -> redis.Redis:
        if port not in self._clients:
            self._clients[port] = self.cluster.node_client(port)
        return self._clients[port]

    def refresh(self) -> None:
        """Load the slot map from CLUSTER SLOTS (one round trip)."""
        self.counts["round_trips"] += 1
        for lo, hi, master, *_ in self._client(self.entry).execute_command("CLUSTER", "SLOTS"):
            port = int(master[1])
            for s in range(int(lo), int(hi) + 1):
                self.slots[s] = port

    def execute(self, *args, max_redirects: int = 5):
        """Run a single-key command (key at args[1]) and follow up to ``max_redirects`` redirects."""
        if len(args) < 2:
            raise ValueError(f"execute() needs a command and its key, got {args!r}")
        slot = key_slot(args[1])
        port = self.slots.get(slot, self.entry) if self.cache != "none" else self.entry
        asking = False
        self.counts["commands"] += 1
        for _ in range(max_redirects + 1):
            client = self._client(port)
            self.counts["round_trips"] += 1
            try:
                if asking:
                    pipe = client.pipeline(transaction=False)  # ASKING must share the connection
                    pipe.execute_command("ASKING")
                    pipe.execute_command(*args)
                    return pipe.execute()[1]
                return client.execute_command(*args)
            except redis.ResponseError as exc:
                redirect = parse_redirect(exc)
                if redirect is None:
                    raise
                kind, _, port = redirect
                self.counts[kind.lower()] += 1
                asking = kind == "ASK"
                if kind == "MOVED" and self.cache != "none":
                    self.slots[slot] = port  # ASK is a one-off: the map must not change
        raise redis.RedisError(f"more than {max_redirects} redirects for {args[:2]}")

    def get(self, key):
        """GET through the router."""
        return self.execute("GET", key)

    def set(self, key, value):
        """SET through the router."""
        return self.execute("SET", key, value)


def server_redirects(cluster: LocalCluster) -> dict[str, int]:
    """MOVED and ASK replies the running nodes have sent so far (INFO errorstats, Redis >= 6.2)."""
    total: Counter[str] = Counter()
    for port, proc in cluster.nodes.items():
        if not proc.is_alive():
            continue
        stats = cluster.node_client(port).info("errorstats")
        for kind in ("MOVED", "ASK"):
            entry = stats.get(f"errorstat_{kind}")
            if entry:
                total[kind] += int(entry["count"]) if isinstance(entry, dict) else int(
                    str(entry).split("=")[1])
    return {"MOVED": total["MOVED"], "ASK": total["ASK"]}
