"""Cache invalidation, measured: TTL and jitter, events, tags, versions, CLIENT TRACKING.

One module per strategy: ``expiry`` (TTL, jitter, adaptive TTL), ``events`` (pub/sub and
Stream listeners for in-process copies), ``tags``, ``versions``, ``tracking``
(server-assisted client-side caching), ``safety`` (glob-safe pattern invalidation),
``local`` (the in-process cache they maintain) and ``workers`` (worker processes and the
stale-read measurement that compares them).
"""

from .common import CountingRedis, store_if_newer
from .events import NaiveListener, PubSubBus, PubSubListener, StreamBus, StreamListener
from .expiry import adaptive_ttl, run_adaptive, run_avalanche
from .local import MISSING, LocalCache
from .safety import brief_pattern, delete_by_raw_pattern, invalidate_entity
from .tags import TagCache, measure_tag_cost
from .tracking import TrackingCache, builtin_cache, tracking_info
from .versions import VersionedCache
from .workers import STRATEGIES, run_strategy, stale_reads

__all__ = [
    "MISSING", "STRATEGIES", "CountingRedis", "LocalCache", "NaiveListener", "PubSubBus",
    "PubSubListener", "StreamBus", "StreamListener", "TagCache", "TrackingCache",
    "VersionedCache", "adaptive_ttl", "brief_pattern", "builtin_cache", "delete_by_raw_pattern",
    "invalidate_entity", "measure_tag_cost", "run_adaptive", "run_avalanche", "run_strategy",
    "stale_reads", "store_if_newer", "tracking_info",
]
