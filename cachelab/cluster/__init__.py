"""Scaling out: a local Redis Cluster, hash slots, failover, replica reads and client-side sharding.

``from cachelab.cluster import LocalCluster`` starts 3 masters + 3 replicas of real
redis-server processes; the rest of the package measures what the notebook 13 shows.
"""

from .local import DEFAULT_NODE_TIMEOUT_MS, ClusterError, LocalCluster, reap
from .slots import SLOTS, crc16, hash_tag, key_slot, slot_spread, tagged

__all__ = [
    "DEFAULT_NODE_TIMEOUT_MS", "SLOTS", "ClusterError", "LocalCluster", "crc16", "hash_tag",
    "key_slot", "reap", "slot_spread", "tagged",
]
