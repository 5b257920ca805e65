"""A local TCP proxy that really delays traffic, to put a "network" between a client and Redis.

Used by notebook 11 to show why round trips matter: on loopback a Redis round trip costs tens
of microseconds, across a data-centre network a millisecond or more. The proxy holds every chunk
of bytes for half the added round-trip time in each direction, so one request and its reply
pay ``rtt_ms`` more, whatever their size. Chunks are scheduled, not queued behind each other:
a pipeline of 1000 commands pays the delay once, as it would on a real network.
"""

from __future__ import annotations

import contextlib
import math
import queue
import socket
import threading
import time
from urllib.parse import urlsplit

import redis

__all__ = ["DelayProxy"]

_CHUNK = 65536
MAX_RTT_MS = 10_000.0


def _check_rtt(rtt_ms) -> float:
    if isinstance(rtt_ms, bool) or not isinstance(rtt_ms, (int, float)):
        raise TypeError(f"rtt_ms must be a number of milliseconds, got {type(rtt_ms).__name__}")
    if not (math.isfinite(rtt_ms) and 0 <= rtt_ms <= MAX_RTT_MS):
        raise ValueError(f"rtt_ms must be between 0 and {MAX_RTT_MS:g} ms, got {rtt_ms!r}")
    return float(rtt_ms)


class DelayProxy:
    """Forward 127.0.0.1:<port> to ``target`` with ``rtt_ms`` of added round-trip time.

    Start it with :meth:`start` (or ``with``); change ``rtt_ms`` at any time. It also counts
    ``round_trips``: how many times a client sent something after hearing back from the
    server. N separate calls are N round trips; a pipeline of N commands is one.
    """

    def __init__(self, target_host: str = "127.0.0.1", target_port: int = 6379, *,
                 rtt_ms: float = 0.0, port: int = 0):
        self.target = (target_host, int(target_port))
        self._rtt_ms = _check_rtt(rtt_ms)
        self._bind_port = port
        self.port: int | None = None
        self.round_trips = 0
        self.bytes_up = 0
        self.bytes_down = 0
        self.connections = 0
        self._listener: socket.socket | None = None
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._sockets: list[socket.socket] = []

    # --- the knob ---------------------------------------------------------------------
    @property
    def rtt_ms(self) -> float:
        """Added round-trip time in milliseconds (half each way)."""
        return self._rtt_ms

    @rtt_ms.setter
    def rtt_ms(self, value: float) -> None:
        self._rtt_ms = _check_rtt(value)

    def reset_counters(self) -> None:
        """Zero the round-trip and byte counters."""
        with self._lock:
            self.round_trips = self.bytes_up = self.bytes_down = 0

    # --- life cycle -------------------------------------------------------------------
    def start(self) -> DelayProxy:
        """Listen on 127.0.0.1 (a free port unless one was given), serving from background threads."""
        if self._listener is not None:
            return self
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self._bind_port))
        listener.listen(128)
        self._listener = listener
        self.port = listener.getsockname()[1]
        self._stopping.clear()
        self._spawn(self._accept_loop, "accept")
        return self

    def stop(self) -> None:
        """Close the listener and every proxied connection, then wait for the threads."""
        if self._listener is None:
            return
        self._stopping.set()
        with self._lock:
            sockets = [self._listener, *self._sockets]
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                sock.close()
        for thread in list(self._threads):
            if thread is not threading.current_thread():
                thread.join(5)
        self._threads.clear()
        self._sockets.clear()
        self._listener = None
        self.port = None

    def __enter__(self) -> DelayProxy:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = f"127.0.0.1:{self.port}" if self.port else "stopped"
        return f"<DelayProxy {state} -> {self.target[0]}:{self.target[1]} +{self._rtt_ms:g} ms RTT>"

    # --- redis-py helpers -------------------------------------------------------------
    @classmethod
    def for_client(cls, r: redis.Redis, rtt_ms: float = 0.0) -> DelayProxy:
        """A proxy (not started) in front of the server that ``r`` talks to."""
        kw = r.connection_pool.connection_kwargs
        if "path" in kw:
            raise ValueError("this client uses a unix socket; the delay proxy speaks TCP only")
        return cls(kw.get("host", "127.0.0.1"), kw.get("port", 6379), rtt_ms=rtt_ms)

    def client(self, r: redis.Redis | None = None, **overrides) -> redis.Redis:
        """A redis-py client that goes through this proxy (same password and db as ``r``)."""
        if self.port is None:
            raise RuntimeError("start the proxy first: proxy.start() or `with DelayProxy(...)`")
        kw: dict = {}
        if r is not None:
            base = r.connection_pool.connection_kwargs
            kw = {k: base[k] for k in ("username", "password", "db", "socket_timeout")
                  if base.get(k) is not None}
        kw.update(overrides)
        return redis.Redis(host="127.0.0.1", port=self.port, **kw)

    def url(self, url: str) -> str:
        """``url`` (a redis:// URL for the target) rewritten to go through this proxy."""
        if self.port is None:
            raise RuntimeError("start the proxy first")
        parts = urlsplit(url)
        auth = parts.netloc.rpartition("@")[0]
        netloc = f"{auth}@127.0.0.1:{self.port}" if auth else f"127.0.0.1:{self.port}"
        return parts._replace(netloc=netloc).geturl()

    # --- the proxy itself -------------------------------------------------------------
    # Threads, not asyncio: the event loop's selector rounds timeouts up to whole milliseconds,
    # which would turn a 1 ms round trip into 2. time.sleep() is good to ~0.1 ms on Linux.
    def _spawn(self, target, name: str, *args) -> None:
        self._threads = [t for t in self._threads if t.is_alive()]
        thread = threading.Thread(target=target, args=args, name=f"delayproxy-{name}", daemon=True)
        self._threads.append(thread)
        thread.start()

    def _accept_loop(self) -> None:
        while not self._stopping.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return  # the listener was closed by stop()
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()  # the target is down: refuse, as the network would
                continue
            upstream.settimeout(None)
            for sock in (client, upstream):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self._lock:
                self._sockets.extend((client, upstream))
                self.connections += 1
            # A new connection's first bytes start a round trip; "open" counts live directions.
            state = {"replied": True, "open": 2, "sockets": (client, upstream)}
            for src, dst, up in ((client, upstream, True), (upstream, client, False)):
                chunks: queue.Queue = queue.Queue()
                self._spawn(self._read, "read", src, chunks, state, up)
                self._spawn(self._send, "send", dst, chunks, state)

    def _read(self, src: socket.socket, chunks: queue.Queue, state: dict, up: bool) -> None:
        """Timestamp each chunk as it arrives; the sender releases it half an RTT later."""
        try:
            while True:
                data = src.recv(_CHUNK)
                if not data:
                    break
                with self._lock:
                    if up:
                        self.bytes_up += len(data)
                        if state["replied"]:
                            self.round_trips += 1
                            state["replied"] = False
                    else:
                        self.bytes_down += len(data)
                        state["replied"] = True
                chunks.put((time.monotonic() + self._rtt_ms / 2000.0, data))
        except OSError:
            pass
        chunks.put(None)

    def _send(self, dst: socket.socket, chunks: queue.Queue, state: dict) -> None:
        try:
            while True:
                item = chunks.get()
                if item is None:
                    dst.shutdown(socket.SHUT_WR)  # pass the end of stream on, after the data
                    break
                due, data = item
                wait = due - time.monotonic()
                if wait > 0:
                    time.sleep(wait)
                dst.sendall(data)
        except OSError:
            pass
        with self._lock:
            state["open"] -= 1
            done = state["open"] == 0
            if done:
                self._sockets = [s for s in self._sockets if s not in state["sockets"]]
        if done:  # both directions finished: release the two sockets
            for sock in state["sockets"]:
                with contextlib.suppress(OSError):
                    sock.close()
