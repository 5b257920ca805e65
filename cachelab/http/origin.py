"""A real origin server on loopback: content-derived ETags, 304s, and a count of every request."""

from __future__ import annotations

import gzip
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from .headers import CachePolicy, etag_for, etags_match, parse_http_date, response_headers

__all__ = ["Origin", "Resource", "Hit", "user_of"]

#: Response fields a 304 repeats (RFC 9110 §15.4.5), so caches can refresh what they hold.
_304_FIELDS = ("cache-control", "etag", "expires", "vary", "last-modified", "date")


@dataclass
class Resource:
    """What one path serves: a body (or ``fn(user) -> bytes``), a policy or raw headers."""

    body: bytes | Callable[[str | None], bytes]
    policy: CachePolicy | None = None
    #: Sent verbatim instead of the policy's headers (used to replay the brief's mistakes).
    raw_headers: Mapping[str, str] | None = None
    content_type: str = "text/plain; charset=utf-8"
    #: Compress with gzip for clients that accept it (whatever Vary says: that is the policy's job).
    gzip: bool = False
    #: With raw headers that carry no ETag, add one computed from the content (as frameworks do).
    auto_etag: bool = True
    last_modified: float = field(default_factory=time.time)


@dataclass(frozen=True)
class Hit:
    """One request that reached the origin."""

    t: float            # time.monotonic() when it arrived
    path: str
    status: int
    user: str | None
    conditional: bool   # carried If-None-Match or If-Modified-Since


def user_of(authorization: str | None) -> str | None:
    """The user named by ``Authorization: Bearer <name>`` (a stand-in for a real token check)."""
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


def _accepts_gzip(value: str | None) -> bool:
    for part in (value or "").split(","):
        name, _, params = part.strip().partition(";")
        if name.strip().lower() in {"gzip", "*"}:
            return params.replace(" ", "") not in {"q=0", "q=0.0", "q=0.00", "q=0.000"}
    return False


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address, handler, origin: Origin):
        self.origin = origin
        self.open_sockets: set[socket.socket] = set()
        self.sockets_lock = threading.Lock()
        super().__init__(address, handler)

    def process_request(self, request, client_address):
        with self.sockets_lock:
            self.open_sockets.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request):
        with self.sockets_lock:
            self.open_sockets.discard(request)
        super().shutdown_request(request)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, like browsers and CDNs
    # Headers and body are two writes: with Nagle on, the body waits ~40 ms for a delayed ACK.
    disable_nagle_algorithm = True
    timeout = 10  # idle keep-alive connections close instead of holding a thread forever
    server: _Server

    def do_GET(self):  # noqa: N802 (http.server's naming)
        self.server.origin._serve(self, head=False)

    def do_HEAD(self):  # noqa: N802
        self.server.origin._serve(self, head=True)

    def log_message(self, *args):  # keep notebook output clean
        pass


class Origin:
    """A ThreadingHTTPServer on 127.0.0.1 serving :class:`Resource` s, counting every request.

    ``hits`` counts requests that reached it (200s, 304s and 404s alike): the measured
    effect of every caching experiment. It keeps its port across ``stop()``/``start()``,
    so caches in front of it see a real outage and then the same origin again.
    """

    def __init__(self, port: int = 0):
        self.port = port
        self._resources: dict[str, Resource] = {}
        self._hits: list[Hit] = []
        self._lock = threading.Lock()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------
    def start(self) -> Origin:
        """Listen (on the same port as before, after a stop) and serve in a daemon thread."""
        if self._server is not None:
            return self
        self._server = _Server(("127.0.0.1", self.port), _Handler, self)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, name=f"origin:{self.port}",
                                        kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop for real: close the listening socket and every open connection."""
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        with server.sockets_lock:
            for sock in list(server.open_sockets):
                try:  # kept-alive connections would otherwise go on being served
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
        if self._thread is not None:
            self._thread.join(timeout=5)

    @property
    def running(self) -> bool:
        return self._server is not None

    @property
    def url(self) -> str:
        if not self.port:
            raise RuntimeError("start() the origin first: it has no port yet")
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> Origin:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- content -----------------------------------------------------------------------
    def serve(self, path: str, body: bytes | Callable[[str | None], bytes], policy: CachePolicy | None = None,
              **options) -> str:
        """Serve ``body`` at ``path`` with ``policy`` (or ``raw_headers=``); returns the path."""
        if not isinstance(path, str):
            raise TypeError(f"path must be a str such as '/page', not {type(path).__name__}")
        if not path.startswith("/"):
            raise ValueError(f"paths start with '/': {path!r}")
        if not callable(body) and not isinstance(body, bytes):
            raise TypeError(f"body must be bytes or fn(user) -> bytes, not {type(body).__name__}")
        with self._lock:
            self._resources[path] = Resource(body, policy, **options)
        return path

    def asset(self, name: str, body: bytes, policy: CachePolicy | None = None, **options) -> str:
        """Serve ``body`` under a content-hashed name (``app.css`` -> ``/static/app.<hash>.css``)."""
        stem, dot, ext = name.rpartition(".")
        digest = etag_for(body).strip('"')[:10].replace("-", "x").replace("_", "y")
        path = f"/static/{stem or ext}.{digest}{dot}{ext if stem else ''}"
        return self.serve(path, body, policy, **options)

    def update(self, path: str, body: bytes | Callable[[str | None], bytes]) -> None:
        """Change what ``path`` serves (a deploy): new ETag, new Last-Modified."""
        with self._lock:
            res = self._resources[path]
            res.body, res.last_modified = body, max(time.time(), res.last_modified + 1)

    def resource(self, path: str) -> Resource:
        with self._lock:
            return self._resources[path]

    def clear(self) -> None:
        """Forget every resource and every counted hit."""
        with self._lock:
            self._resources.clear()
            self._hits.clear()

    # -- counters ----------------------------------------------------------------------
    def hits(self, path: str | None = None, *, status: int | None = None, user: str | None = None) -> int:
        """Requests that reached the origin, optionally for one path, status or user."""
        return len(self.hit_log(path, status=status, user=user))

    def hit_log(self, path: str | None = None, *, status: int | None = None,
                user: str | None = None) -> list[Hit]:
        with self._lock:
            return [h for h in self._hits if (path is None or h.path == path)
                    and (status is None or h.status == status) and (user is None or h.user == user)]

    def statuses(self, path: str | None = None) -> dict[int, int]:
        """``{status: count}`` of the requests that reached the origin."""
        return dict(Counter(h.status for h in self.hit_log(path)))

    def reset_counts(self) -> None:
        with self._lock:
            self._hits.clear()

    # -- the request handler -----------------------------------------------------------
    def _serve(self, req: _Handler, head: bool) -> None:
        path = req.path.split("?", 1)[0]
        user = user_of(req.headers.get("Authorization"))
        inm, ims = req.headers.get("If-None-Match"), req.headers.get("If-Modified-Since")
        with self._lock:
            res = self._resources.get(path)
            snapshot = None if res is None else (res.body, res.policy, res.raw_headers, res.content_type,
                                                 res.gzip, res.last_modified, res.auto_etag)
        if snapshot is None:
            body = b"not found\n"
            headers = {"Content-Type": "text/plain", "Cache-Control": "no-store"}
            return self._send(req, path, user, inm or ims, 404, headers, body, head)
        body_or_fn, policy, raw, ctype, use_gzip, last_modified, auto_etag = snapshot
        body = body_or_fn(user) if callable(body_or_fn) else body_or_fn
        encoded = use_gzip and _accepts_gzip(req.headers.get("Accept-Encoding"))
        if encoded:
            body = gzip.compress(body, mtime=0)  # mtime=0: same bytes, same ETag, every time
        if raw is not None:
            headers = dict(raw)
            if auto_etag and not any(k.lower() == "etag" for k in headers):
                headers["ETag"] = etag_for(body)
        else:
            headers = response_headers(body, policy, last_modified=last_modified, content_type=ctype)
        if encoded:
            headers["Content-Encoding"] = "gzip"
        lower = {k.lower(): v for k, v in headers.items()}
        status = 200
        if inm is not None:  # If-None-Match wins over If-Modified-Since (RFC 9110 §13.2.2)
            if etags_match(inm, lower.get("etag")):
                status = 304
        elif ims is not None and "last-modified" in lower:
            since, modified = parse_http_date(ims), parse_http_date(lower["last-modified"])
            if since is not None and modified is not None and modified <= since:
                status = 304
        if status == 304:
            headers = {k: v for k, v in headers.items() if k.lower() in _304_FIELDS}
            body = b""
        self._send(req, path, user, inm or ims, status, headers, body, head)

    def _send(self, req: _Handler, path: str, user: str | None, conditional, status: int,
              headers: Mapping[str, str], body: bytes, head: bool) -> None:
        with self._lock:  # counted before the reply, so a client that has its answer sees the count
            self._hits.append(Hit(time.monotonic(), path, status, user, conditional is not None))
        req.send_response(status)  # adds Date and Server
        for name, value in headers.items():
            req.send_header(name, value)
        if status != 304:
            req.send_header("Content-Length", str(len(body)))
        req.end_headers()
        if body and not head:
            req.wfile.write(body)


