"""Server-assisted client-side caching with CLIENT TRACKING, built on plain connections (Redis >= 6).

Redis remembers which keys a connection has read (default mode) or which prefixes it
cares about (BCAST mode) and, when any client changes such a key, sends that connection
an ``invalidate`` message: as a RESP3 push on the same connection, or (RESP2 and RESP3)
on another connection named with ``REDIRECT <client id>`` that has subscribed to
``__redis__:invalidate``. The cache here drops its local copy when the message arrives.

What makes it correct, beyond the happy path:

* Every local hit first polls the data socket (one non-blocking system call): pending
  RESP3 pushes are applied before the hit is served, and a connection the server closed
  is noticed *before* a copy it can no longer invalidate is returned.
* Any lost connection (data or redirect) flushes every local copy, and tracking is turned
  on again on the new connection before anything is cached again: keys read on a dead
  connection are no longer tracked by the server.
* A read that races an invalidation never stores the old value (LocalCache tokens).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from urllib.parse import unquote, urlparse

import redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from ..flavor import features, missing_reason
from ..server import server_version
from .local import MISSING, LocalCache

__all__ = ["TrackingCache", "builtin_cache", "tracking_info"]

log = logging.getLogger(__name__)
_LOST = (RedisConnectionError, RedisTimeoutError, OSError)
_CHANNEL = b"__redis__:invalidate"


def _conn_kwargs(url: str) -> dict:
    u = urlparse(url)
    if u.scheme not in ("redis", ""):
        raise ValueError(f"TrackingCache needs a redis:// URL (got {u.scheme}://): TLS and unix "
                         "sockets are left out of this teaching implementation")
    db = int(u.path.strip("/") or 0) if u.path else 0
    return {"host": u.hostname or "127.0.0.1", "port": u.port or 6379, "db": db,
            "username": unquote(u.username) if u.username else None,
            "password": unquote(u.password) if u.password else None}


def _client_kwargs(r: redis.Redis) -> dict:
    # Taken as they are, not rebuilt into a URL: a password with '@', ':' or '/' survives.
    kw = r.connection_pool.connection_kwargs
    if "path" in kw:
        raise ValueError("TrackingCache needs a TCP client: unix sockets are left out of this "
                         "teaching implementation")
    return {"host": kw.get("host", "127.0.0.1"), "port": kw.get("port", 6379), "db": kw.get("db", 0),
            "username": kw.get("username"), "password": kw.get("password")}


class TrackingCache:
    """A local cache kept fresh by Redis's own invalidation messages.

    ``bcast=False`` (default mode): Redis tracks the keys this client read. ``bcast=True``:
    Redis sends every change under ``prefixes``, read or not. ``transport="redirect"``
    (a second, subscribed connection and a listener thread; works with RESP2) or
    ``"resp3"`` (pushes on the data connection itself, applied before every hit).
    """

    def __init__(self, url_or_client: str | redis.Redis, *, bcast: bool = False,
                 prefixes: Sequence[str] = (), transport: str = "redirect",
                 ttl: float | None = None, name: str = "cachelab-tracking",
                 on_invalidate: Callable[[list[bytes] | None], None] | None = None,
                 backoff: float = 0.05):
        if transport not in ("redirect", "resp3"):
            raise ValueError(f"transport is 'redirect' or 'resp3', got {transport!r}")
        if prefixes and not bcast:
            raise ValueError("prefixes only apply to BCAST mode: pass bcast=True")
        self._kw = (_conn_kwargs(url_or_client) if isinstance(url_or_client, str)
                    else _client_kwargs(url_or_client))
        probe = redis.Redis(**self._kw, protocol=2)
        try:
            version = server_version(probe)
        finally:
            probe.close()
        if version < (6, 0, 0):
            raise RuntimeError(f"CLIENT TRACKING needs Redis >= 6.0; this server is "
                               f"{'.'.join(map(str, version))}. Use pub/sub or stream "
                               "invalidation (cachelab.invalidation.events) instead.")
        self.bcast, self.prefixes, self.transport = bcast, list(prefixes), transport
        self.name, self.backoff = name, backoff
        self.local = LocalCache(ttl=ttl)
        self.stats = self.local.stats
        self.on_invalidate = on_invalidate
        self._lock = threading.RLock()          # guards the data connection
        self._data: redis.Connection | None = None
        self._tracking_on = False               # tracking enabled on the live data connection
        self._redirect_id: int | None = None    # client id of the live redirect connection
        self._closing = threading.Event()
        self._listener: threading.Thread | None = None
        self.errors: list[str] = []
        if transport == "redirect":
            self._redirect_ready = threading.Event()
            self._listener = threading.Thread(target=self._listen, name=f"{name}-listener",
                                              daemon=True)
            self._listener.start()
            if not self._redirect_ready.wait(10):
                self.close()
                raise RuntimeError(f"the invalidation connection did not come up: {self.errors[-1:]}")
        with self._lock:
            self._connect_data()

    # -- public API --------------------------------------------------------------------
    @property
    def healthy(self) -> bool:
        """True while local copies can be trusted (tracking is on and its messages can arrive)."""
        alive = self._listener is None or self._listener.is_alive()
        return self._tracking_on and alive and not self._closing.is_set()

    def get(self, key: str) -> bytes | None:
        """The value of ``key``: the local copy if Redis has not invalidated it, else a GET."""
        with self._lock:
            self._poll()
            if self._data is None:  # reconnect (and re-track) before taking the fill token
                try:
                    self._connect_data()
                except _LOST as exc:
                    self._data_lost(exc)
            if self.healthy:
                value = self.local.get(key)
                if value is not MISSING:
                    self.last_source = "local"
                    return value
            else:
                self.stats.incr("bypassed")
            token = self.local.begin(key)
            value = self._command("GET", key)
            if self.healthy and value is not None:  # a missing key is not worth a local copy
                self.local.fill(key, value, token)
            self.last_source = "redis"
            return value

    def set(self, key: str, value: bytes | str, **kwargs) -> None:
        """SET through the tracked connection (Redis invalidates our own copy too)."""
        self._command("SET", key, value, *_set_args(**kwargs))

    def client_id(self) -> int:
        """CLIENT ID of the data connection (for demos that kill it)."""
        return int(self._command("CLIENT", "ID"))

    def close(self) -> None:
        """Stop the listener and close both connections."""
        self._closing.set()
        if self._listener is not None:
            self._listener.join(5)
        with self._lock:
            if self._data is not None:
                self._data.disconnect()
                self._data = None
        self.local.flush()

    def __enter__(self) -> TrackingCache:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __len__(self) -> int:
        return len(self.local)

    # -- data connection ---------------------------------------------------------------
    def _connect_data(self) -> None:
        """(Re)connect the data connection and turn tracking on for it. Caller holds the lock."""
        self._tracking_on = False
        conn = redis.Connection(**self._kw, protocol=3 if self.transport == "resp3" else 2,
                                client_name=f"{self.name}-data", socket_timeout=10)
        conn.connect()
        if self.transport == "resp3":
            conn._parser.set_invalidation_push_handler(self._on_push)
        self._data = conn
        self.local.flush()  # nothing read on an earlier connection is tracked any more
        self._enable_tracking()

    def _enable_tracking(self) -> None:
        """Send CLIENT TRACKING ON with the current options. Caller holds the lock."""
        if self._data is None:
            return
        args = ["CLIENT", "TRACKING", "ON"]
        if self.transport == "redirect":
            if self._redirect_id is None:
                return  # the listener calls again once its connection is up
            args += ["REDIRECT", self._redirect_id]
        if self.bcast:
            args.append("BCAST")
            for prefix in self.prefixes:
                args += ["PREFIX", prefix]
        self._raw("CLIENT", "TRACKING", "OFF")
        self._raw(*args)
        self.local.flush()
        self._tracking_on = True

    def _raw(self, *args):
        self._data.send_command(*args)
        return self._data.read_response()

    def _command(self, *args):
        """Send one command on the data connection; reconnect once if it was lost."""
        with self._lock:
            for attempt in (1, 2):
                try:
                    if self._data is None:
                        self._connect_data()
                    return self._raw(*args)
                except _LOST as exc:
                    self._data_lost(exc)
                    if attempt == 2:
                        raise RedisConnectionError(
                            f"Redis did not answer ({exc}); every local copy was dropped, so "
                            "nothing stale will be served when it is back") from exc

    def _poll(self) -> None:
        """Apply pending pushes and notice a closed socket before serving a local copy."""
        if self._data is None:
            return
        try:
            while self._data.can_read(timeout=0):
                # RESP3: the push handler runs inside read_response. RESP2 redirect mode
                # never has unsolicited data here; a readable socket means it closed.
                self._data.read_response(push_request=True, timeout=0, disconnect_on_error=False)
        except RedisTimeoutError:
            pass
        except _LOST as exc:
            self._data_lost(exc)

    def _data_lost(self, exc: BaseException) -> None:
        self._tracking_on = False
        self.local.flush()
        self.stats.incr("disconnects")
        self.errors.append(f"data connection: {exc}")
        if self._data is not None:
            self._data.disconnect()
        self._data = None

    # -- invalidation messages ---------------------------------------------------------
    def _on_push(self, push) -> None:
        # RESP3: [b"invalidate", [key, ...]] or [b"invalidate", None] after FLUSHALL.
        self._apply(push[1])

    def _apply(self, keys) -> None:
        if keys is None:
            self.local.flush()
        else:
            self.local.invalidate(*(k.decode() if isinstance(k, bytes) else k for k in keys))
        self.stats.incr("messages")
        if self.on_invalidate is not None:
            self.on_invalidate(keys)

    def _listen(self) -> None:
        """Redirect transport: own the subscribed connection; reconnect and re-track on loss."""
        backoff = self.backoff
        conn: redis.Connection | None = None
        while not self._closing.is_set():
            try:
                if conn is None:
                    conn = redis.Connection(**self._kw, protocol=2, client_name=f"{self.name}-inv",
                                            socket_timeout=10)
                    conn.connect()
                    conn.send_command("CLIENT", "ID")
                    cid = int(conn.read_response())
                    conn.send_command("SUBSCRIBE", _CHANNEL)
                    conn.read_response()
                    with self._lock:  # point tracking at the new connection, then start clean
                        self._redirect_id = cid
                        if self._data is not None:
                            try:
                                self._enable_tracking()
                            except _LOST as exc:
                                self._data_lost(exc)
                    self._redirect_ready.set()
                    backoff = self.backoff
                if conn.can_read(timeout=0.1):
                    msg = conn.read_response(disconnect_on_error=False)
                    if isinstance(msg, list) and len(msg) == 3 and msg[0] == b"message":
                        self._apply(msg[2])
            except _LOST as exc:
                self._redirect_lost(conn, exc)
                conn = None
                self._closing.wait(backoff)
                backoff = min(backoff * 2, 2.0)
            except Exception as exc:  # a bug must be seen, and must not leave copies trusted
                log.exception("tracking listener failed")
                self._redirect_lost(conn, exc)
                conn = None
                self._closing.wait(backoff)
        if conn is not None:
            conn.disconnect()

    def _redirect_lost(self, conn, exc: BaseException) -> None:
        with self._lock:
            self._tracking_on = False
            self._redirect_id = None
            self.local.flush()
        self.stats.incr("disconnects")
        self.errors.append(f"invalidation connection: {exc!r}")
        if conn is not None:
            conn.disconnect()


def _set_args(ex=None, px=None, nx=False, xx=False) -> list:
    args: list = []
    if ex is not None:
        args += ["EX", int(ex)]
    if px is not None:
        args += ["PX", int(px)]
    if nx:
        args.append("NX")
    if xx:
        args.append("XX")
    return args


def tracking_info(r: redis.Redis) -> dict[str, int]:
    """The server's tracking table: keys tracked, client entries, BCAST prefixes (INFO)."""
    info = r.info()
    return {k: int(info.get(k, 0)) for k in
            ("tracking_clients", "tracking_total_keys", "tracking_total_items",
             "tracking_total_prefixes")}


def builtin_cache(url: str, **config) -> tuple[redis.Redis | None, str]:
    """redis-py's own client-side cache (``CacheConfig``) if the server supports it.

    Returns ``(client, "")`` on Redis >= 7.4, else ``(None, reason)``: redis-py refuses
    ``cache_config`` on older servers, so the notebook explains what it skips.
    """
    probe = redis.Redis.from_url(url, protocol=2)
    try:
        # By server kind as well as version: redis-py refuses it on Valkey (see cachelab.flavor).
        reason = "" if features(probe)["client_side_cache"] else missing_reason(
            "client_side_cache", probe)
        version = server_version(probe)
    finally:
        probe.close()
    if reason:
        return None, (f"{reason}; this server speaks Redis {'.'.join(map(str, version))}, so "
                      "that comparison is skipped. cachelab's TrackingCache above works from "
                      "Redis 6.0 and on Valkey.")
    from redis.cache import CacheConfig

    return redis.Redis.from_url(url, protocol=3, cache_config=CacheConfig(**config)), ""
