"""Two peers on the same hot-key workload: dogpile.cache and cashews (the ``bench`` extra).

Each factory builds a ``get(key) -> outcome`` request function for :func:`cachelab.load.run_load`
in whichever process calls it. Outcomes are coarser than cachelab's: ``miss`` when this
request ran the recompute itself, ``hit`` otherwise (the peers do not say whether a caller
waited or got a stale value; their latency shows it).
"""

from __future__ import annotations

import asyncio
import contextvars
import math
import secrets
import threading
from dataclasses import dataclass, field
from functools import partial

from ..codec import dumps, loads
from ..db import Database
from .experiment import top_customers

__all__ = ["PEERS", "DogpileFactory", "CashewsFactory", "peer_factory", "peers_available",
           "peer_keys"]

#: name -> what it is
PEERS = {
    "dogpile.cache (redis + distributed lock)":
        "dogpile.cache region, Redis backend, distributed_lock=True; the key lives twice the "
        "TTL so the lock holder regenerates while others get the old value",
    "cashews @cache(lock=True)":
        "cashews' cache decorator with its lock: misses wait for the first caller",
    "cashews @cache.early":
        "cashews' early decorator: after early_ttl one caller recomputes in the background",
}


def peers_available() -> dict[str, str | None]:
    """For each peer package: None if importable, else why not."""
    status: dict[str, str | None] = {}
    for module in ("dogpile.cache", "cashews"):
        try:
            __import__(module)
            status[module] = None
        except ImportError as exc:
            status[module] = f"{exc}; install the bench extra: pip install -e '.[bench]'"
    return status


def peer_keys(key: str) -> list[str]:
    """Every Redis key the peers may create for ``key`` (to clean up exactly those)."""
    return [key, f"_lock{key}", f"{key}:lock", f"early:v2:{key}", f"early:v2:{key}:lock",
            f"locked:{key}", f"lock:{key}"]


@dataclass(frozen=True)
class DogpileFactory:
    """dogpile.cache with its Redis backend and distributed (redis-py) lock."""

    url: str
    db: Database
    ttl: float

    def __call__(self):
        from dogpile.cache import make_region

        region = make_region(serializer=dumps, deserializer=loads).configure(
            "dogpile.cache.redis",
            expiration_time=self.ttl,
            arguments={
                "url": self.url,
                "distributed_lock": True,     # one regenerator across processes
                "thread_local_lock": False,   # the lock object is shared by our threads
                "redis_expiration_time": max(2, math.ceil(2 * self.ttl)),
                "lock_timeout": 10,
            },
        )
        computed = threading.local()

        def creator(key):
            computed.flag = True
            return top_customers(self.db, key)

        def get(key: str) -> str:
            computed.flag = False
            region.get_or_create(key, partial(creator, key))
            return "miss" if computed.flag else "hit"

        return get


_ran: contextvars.ContextVar[list | None] = contextvars.ContextVar("cachelab_peer_ran",
                                                                   default=None)


@dataclass(frozen=True)
class CashewsFactory:
    """cashews (asyncio) on an event loop thread of its own; ``mode`` is 'locked' or 'early'."""

    url: str
    db: Database
    ttl: float
    mode: str = "locked"
    max_connections: int = 256
    secret: str = field(default_factory=lambda: secrets.token_hex(16))

    def __call__(self):
        from cashews import Cache

        if self.mode not in ("locked", "early"):
            raise ValueError(f"mode is 'locked' or 'early', got {self.mode!r}")
        loop = asyncio.new_event_loop()
        threading.Thread(target=loop.run_forever, name="cashews-loop", daemon=True).start()
        cache = Cache()
        # cashews pickles values (its JSON pickler cannot store the datetime that 'early'
        # keeps); a secret makes it sign them, so it never unpickles bytes it did not write.
        cache.setup(self.url, secret=self.secret, suppress=False,
                    max_connections=self.max_connections)
        db = self.db

        async def compute(key: str):
            ran = _ran.get()
            if ran is not None:
                ran.append(True)
            return await asyncio.to_thread(top_customers, db, key)

        if self.mode == "locked":
            cached = cache(ttl=self.ttl, key="{key}", lock=True)(compute)
        else:
            cached = cache.early(ttl=2 * self.ttl, early_ttl=self.ttl, key="{key}")(compute)

        async def one(key: str) -> str:
            ran: list = []
            _ran.set(ran)
            await cached(key)
            return "miss" if ran else "hit"

        def get(key: str) -> str:
            return asyncio.run_coroutine_threadsafe(one(key), loop).result(timeout=60)

        def close():
            asyncio.run_coroutine_threadsafe(cache.close(), loop).result(timeout=10)
            loop.call_soon_threadsafe(loop.stop)

        get.close = close
        return get


def peer_factory(name: str, url: str, db: Database, ttl: float):
    """The factory for one of :data:`PEERS`."""
    if name.startswith("dogpile"):
        return DogpileFactory(url, db, ttl)
    if name == "cashews @cache(lock=True)":
        return CashewsFactory(url, db, ttl, "locked")
    if name == "cashews @cache.early":
        return CashewsFactory(url, db, ttl, "early")
    raise ValueError(f"unknown peer {name!r}; choose one of {list(PEERS)}")
