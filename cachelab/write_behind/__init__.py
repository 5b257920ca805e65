"""Write-behind: writes land in the cache now and in the database later, in batches.

Two variants with one surface (``read``/``write``, ``metrics``, ``close``):

- :class:`MemoryWriteBehind`: an in-process queue; fast, and it loses what is queued on a crash.
- :class:`StreamWriteBehind` + :class:`StreamWorker`: a Redis Stream with a consumer group;
  a crashed worker's batch is taken over by another, and nothing acknowledged is lost.

:class:`BriefWriteBehind` is the source brief's version, kept runnable to show its mistakes.
"""

from .brief import BriefWriteBehind
from .durable import (
    GROUP,
    QueueNotSafe,
    StreamWorker,
    StreamWriteBehind,
    check_queue_safety,
    queue_keys,
)
from .memory import MemoryWriteBehind

__all__ = ["GROUP", "BriefWriteBehind", "MemoryWriteBehind", "QueueNotSafe", "StreamWorker",
           "StreamWriteBehind", "check_queue_safety", "queue_keys"]
