"""Cache patterns on a cluster: what works unchanged, and the changed versions of what does not.

Cache-aside touches one key per call, so the same function runs on ``redis.Redis`` and on
``RedisCluster``. Anything that touches several keys at once (MGET, MULTI/EXEC, a Lua script)
must keep those keys in one slot, with a hash tag, or be split per slot and lose atomicity.
"""

from __future__ import annotations

import redis
from redis.cluster import RedisCluster

from ..codec import dumps, loads
from ..keys import Keys
from ..ttl import check_ttl
from ._util import _parse_info
from .local import LocalCluster
from .slots import tagged

__all__ = ["read_user", "update_user", "read_users", "save_with_version", "SAVE_WITH_VERSION",
           "bus_messages"]


def read_user(r: redis.Redis | RedisCluster, keys: Keys, db, user_id: int, ttl: int = 300):
    """Cache-aside read: (row, 'hit'|'miss'). Works as is on a single server and on a cluster."""
    check_ttl(ttl)
    key = keys("user", user_id)
    cached = r.get(key)
    if cached is not None:
        return loads(cached), "hit"
    row = db.get_user(user_id)
    r.set(key, dumps(row), ex=ttl)  # a missing row is cached as null too (no penetration)
    return row, "miss"


def update_user(r: redis.Redis | RedisCluster, keys: Keys, db, user_id: int, **fields) -> dict | None:
    """Write the database first, then delete the cached copy (the next read refills it)."""
    row = db.update_user(user_id, **fields)
    r.delete(keys("user", user_id))
    return row


def read_users(r: redis.Redis | RedisCluster, keys: Keys, db, user_ids: list[int],
               ttl: int = 300) -> dict[int, dict | None]:
    """Many users in one go: MGET on one server, one MGET per slot on a cluster (not atomic)."""
    names = [keys("user", uid) for uid in user_ids]
    if isinstance(r, RedisCluster):
        values = r.mget_nonatomic(names)  # groups keys by slot; a plain MGET would raise
    else:
        values = r.mget(names)
    out, missing = {}, []
    for uid, raw in zip(user_ids, values, strict=True):
        if raw is None:
            missing.append(uid)
        else:
            out[uid] = loads(raw)
    if missing:
        rows = db.get_users(missing)
        pipe = r.pipeline(transaction=False)  # a cluster pipeline splits itself per node
        for uid in missing:
            out[uid] = rows.get(uid)
            pipe.set(keys("user", uid), dumps(rows.get(uid)), ex=ttl)
        pipe.execute()
    return out


# KEYS[1] = the cached value, KEYS[2] = its version counter (both must share a slot)
# ARGV[1] = the encoded value, ARGV[2] = TTL in seconds
# returns the new version number
SAVE_WITH_VERSION = """
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
local v = redis.call('INCR', KEYS[2])
redis.call('EXPIRE', KEYS[2], ARGV[2])
return v
"""


def save_with_version(r: redis.Redis | RedisCluster, keys: Keys, user_id: int, row: dict,
                      ttl: int = 300) -> int:
    """Store a user and bump its version atomically; the keys share the tag ``{user:<id>}``."""
    check_ttl(ttl)
    user = tagged(keys, "user", user_id)
    return int(r.eval(SAVE_WITH_VERSION, 2, user("profile"), user("version"), dumps(row), int(ttl)))


def bus_messages(cluster: LocalCluster) -> dict[str, int]:
    """Pub/sub messages sent over the cluster bus so far, summed over running nodes."""
    total = {"publish": 0, "publishshard": 0}
    for port, proc in cluster.nodes.items():
        if not proc.is_alive():
            continue
        info = _parse_info(cluster.node_client(port).execute_command("CLUSTER", "INFO"))
        for kind in total:
            total[kind] += int(info.get(f"cluster_stats_messages_{kind}_sent", 0))
    return total
