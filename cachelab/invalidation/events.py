"""Event invalidation of in-process copies: pub/sub (at most once) and a Redis Stream (replayable).

A database write publishes the keys it changed; every worker process drops its local copy.
Pub/sub delivers each message only to subscribers connected at that instant, so a worker
that was disconnected misses it. Two fixes, both here: flush every local copy on reconnect
(plus a TTL backstop and a bypass while disconnected), or read a Stream from the last
offset seen, so that nothing published meanwhile is missed. Listener state is visible
(:attr:`healthy`, :meth:`status`); a listener that dies is noticed, never silent.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Sequence

import redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from .local import LocalCache

__all__ = ["PubSubBus", "StreamBus", "NaiveListener", "PubSubListener", "StreamListener",
           "encode_event", "decode_event", "listener_ids"]

log = logging.getLogger(__name__)
_LOST = (RedisConnectionError, RedisTimeoutError, OSError)


def encode_event(keys: Sequence[str]) -> str:
    """The message a write publishes: the keys it changed and when (time.time())."""
    if isinstance(keys, str) or not all(isinstance(k, str) for k in keys):
        raise TypeError("publish a list of key strings (a bare str would be split into letters)")
    return json.dumps({"keys": list(keys), "t": time.time()})


def decode_event(data: bytes | str) -> dict:
    """The inverse of :func:`encode_event`."""
    event = json.loads(data)
    if not isinstance(event, dict) or not isinstance(event.get("keys"), list):
        raise ValueError(f"not an invalidation event: {data[:80]!r}")
    return event


class PubSubBus:
    """Publishes invalidation events on a channel (PUBLISH: one command per write)."""

    def __init__(self, r: redis.Redis, channel: str):
        self.r, self.channel = r, channel

    def publish(self, keys: Sequence[str], pipe=None) -> int | None:
        """Publish; returns how many subscribers received it (None inside a pipeline)."""
        target = pipe if pipe is not None else self.r
        return target.publish(self.channel, encode_event(keys))


class StreamBus:
    """Appends invalidation events to a Stream (XADD, trimmed to about ``maxlen`` entries)."""

    def __init__(self, r: redis.Redis, stream: str, maxlen: int = 10_000):
        self.r, self.stream, self.maxlen = r, stream, maxlen

    def publish(self, keys: Sequence[str], pipe=None):
        """Append; returns the entry id (None inside a pipeline)."""
        target = pipe if pipe is not None else self.r
        return target.xadd(self.stream, {"e": encode_event(keys)}, maxlen=self.maxlen,
                           approximate=True)


class _Listener:
    """Common state: the cache it maintains, counters, health, and a clean stop."""

    kind = "listener"

    def __init__(self, url: str, cache: LocalCache, *, name: str = "cachelab-inv",
                 on_event: Callable[[dict, float], None] | None = None, backoff: float = 0.05):
        self.url, self.cache, self.name, self.on_event = url, cache, name, on_event
        self.backoff = backoff
        self.connected = threading.Event()
        self._stop = threading.Event()
        self.received = 0
        self.disconnects = 0
        self.reconnects: list[float] = []    # time.time() of each reconnect after a loss
        self.errors: list[str] = []
        self.thread: threading.Thread | None = None

    def start(self, timeout: float = 10.0):
        """Start (or restart, keeping its offset) the listener thread; wait until it is subscribed."""
        self._stop.clear()
        self.connected.clear()
        self.thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self.thread.start()
        if not self.connected.wait(timeout):
            raise RuntimeError(f"{self.kind} listener did not connect within {timeout:.0f}s: "
                               f"{self.errors[-1:] or 'no error recorded'}")
        return self

    def stop(self) -> None:
        """Ask the thread to finish and wait for it."""
        self._stop.set()
        if self.thread is not None:
            self.thread.join(5)

    @property
    def alive(self) -> bool:
        """The thread is running."""
        return self.thread is not None and self.thread.is_alive()

    @property
    def healthy(self) -> bool:
        """Local copies can be trusted: the thread runs and is connected and caught up."""
        return self.alive and self.connected.is_set()

    def status(self) -> dict:
        """Counters for dashboards and tests."""
        return {"kind": self.kind, "alive": self.alive, "healthy": self.healthy,
                "received": self.received, "disconnects": self.disconnects,
                "reconnects": list(self.reconnects), "errors": list(self.errors[-5:])}

    def _apply(self, event: dict) -> None:
        now = time.time()
        self.cache.invalidate(*event["keys"])
        self.received += 1
        if self.on_event is not None:
            self.on_event(event, now)

    def _run(self) -> None:
        try:
            self._loop()
        except BaseException as exc:  # noticed: logged, recorded, and copies stop being trusted
            self.connected.clear()
            self.cache.flush()
            self.errors.append(f"listener died: {exc!r}")
            log.exception("%s listener %s died; local copies flushed and bypassed", self.kind,
                          self.name)
            raise

    def _loop(self) -> None:
        raise NotImplementedError

    def _lost(self, exc: BaseException, conn, backoff: float) -> float:
        """Record a lost connection, close ``conn``, wait ``backoff``; return the next backoff."""
        self.connected.clear()
        self.disconnects += 1
        self.errors.append(repr(exc))
        if conn is not None:
            conn.close()
        self._stop.wait(backoff)
        return min(backoff * 2, 2.0)


class NaiveListener(_Listener):
    """The brief's listener: ``for message in pubsub.listen()`` in a daemon thread.

    A lost connection raises out of ``listen()`` once redis-py's retries give up, and ends the
    thread: nobody drops local copies again, and nothing but a line on stderr says so.
    """

    kind = "naive pub/sub"

    def __init__(self, url: str, cache: LocalCache, channel: str, **kw):
        super().__init__(url, cache, **kw)
        self.channel = channel

    @property
    def healthy(self) -> bool:
        """The naive version has no notion of health: it always trusts its copies."""
        return True

    def _run(self) -> None:  # deliberately no try/except: this is the pitfall
        client = redis.Redis.from_url(self.url, client_name=self.name)
        pubsub = client.pubsub()
        pubsub.subscribe(self.channel)
        pubsub.get_message(timeout=5)  # the subscribe confirmation
        self.connected.set()
        for message in pubsub.listen():
            if message["type"] == "message":
                self._apply(decode_event(message["data"]))


class PubSubListener(_Listener):
    """Pub/sub with the fixes: reconnect with backoff, flush on loss *and* after resubscribing.

    ``flush_on_reconnect=False`` gives the half-fix most code has (it reconnects, so it
    looks healthy, but whatever was published while it was away is lost).
    """

    kind = "pub/sub"

    def __init__(self, url: str, cache: LocalCache, channel: str, *,
                 flush_on_reconnect: bool = True, **kw):
        super().__init__(url, cache, **kw)
        self.channel, self.flush_on_reconnect = channel, flush_on_reconnect

    @property
    def healthy(self) -> bool:
        """Without the flush there is nothing to protect against, so copies are always trusted."""
        return super().healthy if self.flush_on_reconnect else self.alive

    def _loop(self) -> None:
        backoff = self.backoff
        pubsub = None
        lost = False
        while not self._stop.is_set():
            try:
                if pubsub is None:
                    # retry=None: our loop sees every disconnect instead of redis-py hiding it
                    client = redis.Redis.from_url(self.url, client_name=self.name, retry=None)
                    pubsub = client.pubsub()
                    pubsub.subscribe(self.channel)
                    while pubsub.get_message(timeout=1.0) is None:  # wait for the confirmation
                        pass
                    if lost and self.flush_on_reconnect:
                        # Subscribed first, flushed second: anything published from now on
                        # reaches us, anything before is gone from the cache.
                        self.cache.flush()
                    if lost:
                        self.reconnects.append(time.time())
                    self.connected.set()
                    backoff = self.backoff
                message = pubsub.get_message(timeout=0.1)
                if message and message["type"] == "message":
                    self._apply(decode_event(message["data"]))
            except _LOST as exc:
                self.connected.clear()  # stop trusting copies, then drop them
                if self.flush_on_reconnect:
                    self.cache.flush()
                lost = True
                backoff = self._lost(exc, pubsub, backoff)
                pubsub = None
        if pubsub is not None:
            pubsub.close()


class StreamListener(_Listener):
    """Reads the invalidation Stream from its own last offset: a reconnect replays what it missed.

    If the stream was trimmed past that offset, events are gone for good, so it flushes
    instead (:attr:`gaps` counts how often).
    """

    kind = "stream"

    def __init__(self, url: str, cache: LocalCache, stream: str, **kw):
        super().__init__(url, cache, **kw)
        self.stream = stream
        self.last_id: bytes | None = None
        self.gaps = 0

    def _loop(self) -> None:
        backoff = self.backoff
        client = None
        lost = False
        while not self._stop.is_set():
            try:
                if client is None:
                    # One connection, not a pool: a pool silently replaces a connection the
                    # server closed between two reads, and the listener would never know it
                    # had been away (nothing is lost then, but nothing is counted either).
                    client = redis.Redis.from_url(self.url, client_name=self.name, retry=None,
                                                  single_connection_client=True)
                    if self.last_id is None:
                        last = client.xrevrange(self.stream, count=1)
                        self.last_id = last[0][0] if last else b"0-0"
                    elif self._trimmed_past(client):
                        self.gaps += 1
                        self.cache.flush()
                    # Catch up on everything after our offset before trusting copies again.
                    while self._read(client, block=None):
                        pass
                    if lost:
                        self.reconnects.append(time.time())
                    self.connected.set()
                    backoff = self.backoff
                self._read(client, block=100)
            except _LOST as exc:
                lost = True
                backoff = self._lost(exc, client, backoff)
                client = None
        if client is not None:
            client.close()

    def _read(self, client: redis.Redis, block: int | None) -> int:
        reply = client.xread({self.stream: self.last_id}, count=500, block=block)
        n = 0
        for _stream, entries in reply or []:
            for entry_id, fields in entries:
                self._apply(decode_event(fields[b"e"]))
                self.last_id = entry_id
                n += 1
        return n

    def _trimmed_past(self, client: redis.Redis) -> bool:
        try:
            info = client.xinfo_stream(self.stream)
        except redis.ResponseError:  # the stream does not exist (yet, or any more)
            return self.last_id not in (None, b"0-0")
        # Trimming removes the oldest entries: if the oldest one left is newer than our
        # offset, entries we never read may be gone (conservative: it may flush needlessly).
        first = info.get("first-entry")
        if first and _id(first[0]) > _id(self.last_id):
            return True
        deleted = info.get("max-deleted-entry-id")  # XDEL'd entries (Redis >= 7.0)
        return deleted is not None and _id(deleted) > _id(self.last_id)


def _id(entry_id) -> tuple[int, int]:
    text = entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)
    ms, _, seq = text.partition("-")
    return int(ms), int(seq or 0)


def listener_ids(r: redis.Redis, name_prefix: str) -> list[int]:
    """CLIENT IDs of connections whose name starts with ``name_prefix`` (for fault demos)."""
    return [int(c["id"]) for c in r.client_list() if str(c.get("name", "")).startswith(name_prefix)]
