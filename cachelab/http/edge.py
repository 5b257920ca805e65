"""Shared caches in front of the origin: hishel in shared mode behind a tiny proxy, and nginx."""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import tempfile
import threading
import time
import uuid
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
from hishel import CacheOptions, SqliteStorage
from hishel.httpx import CacheTransport

from .. import children
from ..server import free_port
from .headers import etags_match, freshness_lifetime, parse_cache_control, parse_http_date

__all__ = ["PyEdge", "NginxEdge", "NginxUnavailable", "find_nginx", "memory_storage", "cache_key",
           "HOP_BY_HOP"]

#: Connection-scoped fields a proxy must not forward (RFC 9110 §7.6.1).
HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding",
              "upgrade", "proxy-authorization", "proxy-authenticate", "host", "content-length"}


def cache_key(url: str) -> str:
    """The storage key both cachelab clients give hishel for ``url`` (variants share it)."""
    return hashlib.sha256(f"GET {url}".encode()).hexdigest()


def memory_storage() -> SqliteStorage:
    """A hishel storage in an in-memory SQLite database, usable from any thread."""
    return SqliteStorage(connection=sqlite3.connect(":memory:", check_same_thread=False,
                                                    isolation_level=None))


def _redis_storage(r, prefix: str):
    """hishel's Redis storage under a cachelab prefix, or None if the server is older than 7.0."""
    from hishel import RedisStorage

    from ..server import server_version

    if server_version(r) < (7, 0, 0):  # RedisStorage extends keys with PEXPIRE GT
        return None
    # A client of its own on the same pool: hishel closes its client when the cache closes.
    own = type(r)(connection_pool=r.connection_pool)
    return RedisStorage(own, key_prefix=prefix, default_ttl=3600, soft_delete_ttl=30)


class _DropVary(httpx.BaseTransport):
    """Deletes Vary from origin responses: how a CDN that ignores Vary behaves."""

    def __init__(self, inner: httpx.BaseTransport):
        self.inner = inner

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.inner.handle_request(request)
        response.headers.pop("vary", None)
        return response

    def close(self) -> None:
        self.inner.close()


def _normalize_encoding(value: str | None) -> str:
    return "gzip" if "gzip" in (value or "").lower() else "identity"


def _vary_matches(stored_request_headers, response_headers, request_headers) -> bool:
    names = [n.strip().lower() for n in (response_headers.get("vary") or "").split(",") if n.strip()]
    return all((stored_request_headers.get(n) or "") == (request_headers.get(n) or "") for n in names)


def _seconds(cc: dict, name: str) -> float:
    """A directive's delta-seconds, or -1 when absent or malformed (so no window opens)."""
    try:
        return float(int(cc.get(name) or -1))
    except ValueError:
        return -1.0


class _EdgeHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    timeout = 10

    def do_GET(self):  # noqa: N802
        self.server.edge._handle(self)

    def log_message(self, *args):
        pass


class PyEdge:
    """A reverse proxy whose cache is hishel in *shared* mode (RFC 9111 rules for a CDN).

    Storage is Redis (hishel's ``RedisStorage`` under ``keys``) when given a client and
    keys, else in-memory SQLite. hishel 2.0 has no stale-while-revalidate or
    stale-if-error (RFC 5861): this class adds both, with the freshness rules of RFC 9111.
    Every response carries ``X-Cache`` (HIT, MISS, REVALIDATED, STALE, UPDATING), as nginx's does.
    """

    name = "python (hishel, shared)"

    def __init__(self, origin_url: str, *, r=None, keys=None, ignore_vary: bool = False,
                 normalize_encoding: bool = False, timeout: float = 5.0):
        self.origin_url = origin_url.rstrip("/")
        self.ignore_vary = ignore_vary
        self.normalize_encoding = normalize_encoding
        self.prefix = None
        self.storage = None
        if r is not None and keys is not None:
            self.prefix = keys("edge", uuid.uuid4().hex[:8])
            self.storage = _redis_storage(r, self.prefix)
        self.storage_kind = "redis" if self.storage is not None else "sqlite (memory)"
        self.storage = self.storage or memory_storage()
        self._r = r
        inner: httpx.BaseTransport = httpx.HTTPTransport(retries=0)
        if ignore_vary:
            inner = _DropVary(inner)
        # No httpx-level retries or redirects: a proxy passes the origin's answer on as it is.
        self.client = httpx.Client(transport=CacheTransport(inner, self.storage, rfc=CacheOptions(shared=True)),
                                   timeout=timeout)
        self._verdicts: list[tuple[str, str]] = []  # (path, X-Cache) per answered request
        self.background_refreshes = 0
        self._refreshing: set[str] = set()
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    # -- lifecycle -------------------------------------------------------------------
    def start(self) -> PyEdge:
        server = ThreadingHTTPServer(("127.0.0.1", 0), _EdgeHandler)
        server.daemon_threads = True
        server.edge = self
        self._server = server
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True,
                         name="py-edge").start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        self.client.close()
        if self._r is not None and self.prefix is not None:
            from ..keys import delete_prefix

            delete_prefix(self._r, self.prefix)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> PyEdge:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def verdicts(self, path: str | None = None) -> dict[str, int]:
        """``{X-Cache value: count}`` for the requests this cache answered (optionally one path)."""
        with self._lock:
            return dict(Counter(v for p, v in self._verdicts if path is None or p == path))

    def entries(self, path: str) -> int:
        """How many variants of ``path`` the cache holds right now."""
        return len(self.storage.get_entries(cache_key(self.origin_url + path)))

    # -- the proxy -------------------------------------------------------------------
    def _handle(self, req: BaseHTTPRequestHandler) -> None:
        url = self.origin_url + req.path
        # Conditionals go along: with a stored response hishel answers in full and _reply turns
        # it into a 304; without one, the origin's 304 comes back (RFC 9111 §4.3.2).
        headers = {k: v for k, v in req.headers.items() if k.lower() not in HOP_BY_HOP}
        if self.normalize_encoding:
            # Two representations exist (gzip, identity): key the cache by those, not by the
            # dozens of Accept-Encoding strings browsers send.
            headers = {k: v for k, v in headers.items() if k.lower() != "accept-encoding"}
            headers["Accept-Encoding"] = _normalize_encoding(req.headers.get("Accept-Encoding"))
        key = cache_key(url)
        stale = self._stale_entry(key, headers)
        if stale is not None and stale["swr"]:
            self._refresh_in_background(key, url, headers)
            return self._reply(req, 200, stale["headers"], stale["body"], "UPDATING", stale["age"])
        try:
            request = self.client.build_request("GET", url, headers=headers,
                                                extensions={"caching": {"key": key}})
            response = self.client.send(request, stream=True)
            try:
                body = b"".join(response.iter_raw())  # the bytes as sent: gzip stays gzip
            finally:
                response.close()
        except httpx.TransportError:
            response = None
        if (response is None or response.status_code >= 500) and stale is not None and stale["sie"]:
            return self._reply(req, 200, stale["headers"], stale["body"], "STALE", stale["age"])
        if response is None:
            return self._reply(req, 502, {"content-type": "text/plain", "cache-control": "no-store"},
                               b"bad gateway: the origin did not answer\n", "MISS", None)
        status = response.extensions.get("caching", {})
        verdict = ("REVALIDATED" if status.get("revalidated") and status.get("from_cache") else
                   "HIT" if status.get("from_cache") else "MISS")
        out = {k.lower(): v for k, v in response.headers.items()}
        self._reply(req, response.status_code, out, body, verdict, None)

    def _reply(self, req, status: int, headers: dict, body: bytes, verdict: str, age) -> None:
        with self._lock:
            self._verdicts.append((req.path, verdict))
        inm = req.headers.get("If-None-Match")
        ims = req.headers.get("If-Modified-Since")
        not_modified = status == 200 and (
            etags_match(inm, headers.get("etag")) if inm is not None else
            ims is not None and (parse_http_date(headers.get("last-modified")) or 1e18)
            <= (parse_http_date(ims) or 0))
        req.send_response(304 if not_modified else status)
        for name, value in headers.items():
            if name.lower() not in HOP_BY_HOP and not (age is not None and name.lower() == "age"):
                req.send_header(name, value)
        if age is not None:
            req.send_header("Age", str(int(age)))
        req.send_header("X-Cache", verdict)
        if not not_modified:
            req.send_header("Content-Length", str(len(body)))
        req.end_headers()
        if not not_modified:
            req.wfile.write(body)

    # -- RFC 5861, on top of hishel ----------------------------------------------------
    def _stale_entry(self, key: str, headers: dict) -> dict | None:
        """A stored, matching, *stale* response with what its stale-* directives allow now."""
        wanted = {k.lower(): v for k, v in headers.items()}
        matching = []
        for entry in self.storage.get_entries(key):
            stored = {k.lower(): v for k, v in entry.response.headers.items()}
            request_headers = {k.lower(): v for k, v in entry.request.headers.items()}
            if _vary_matches(request_headers, stored, wanted):
                matching.append((parse_http_date(stored.get("date")) or 0.0, stored, entry))
        # A refresh stores a new entry beside the old one: only the most recent counts (RFC 9111 §4).
        for date, stored, entry in sorted(matching, key=lambda m: m[0], reverse=True)[:1]:
            lifetime = freshness_lifetime(stored, shared=True)
            if lifetime is None or not date:
                return None
            age = max(time.time() - date, 0.0)
            staleness = age - lifetime
            if staleness < 0:
                return None  # fresh: hishel serves it
            cc = parse_cache_control(stored.get("cache-control"))
            if "must-revalidate" in cc or "proxy-revalidate" in cc or "no-cache" in cc:
                return None
            swr = staleness <= _seconds(cc, "stale-while-revalidate")
            sie = staleness <= _seconds(cc, "stale-if-error")
            if not (swr or sie):
                return None
            body = b"".join(entry.response.stream or [])
            return {"headers": stored, "body": body, "age": age, "swr": swr, "sie": sie}
        return None

    def _refresh_in_background(self, key: str, url: str, headers: dict) -> None:
        with self._lock:
            if key in self._refreshing:  # one refresh per key at a time, however many readers
                return
            self._refreshing.add(key)
            self.background_refreshes += 1

        def refresh():
            try:  # request no-cache makes hishel revalidate (304 refreshes the stored copy)
                r = self.client.get(url, headers={**headers, "Cache-Control": "no-cache"},
                                    extensions={"caching": {"key": key}})
                r.read()
                r.close()
            except httpx.HTTPError:
                pass  # still stale; the next reader tries again
            finally:
                with self._lock:
                    self._refreshing.discard(key)

        threading.Thread(target=refresh, daemon=True, name="swr-refresh").start()

    def refreshing(self) -> int:
        """Background refreshes still running."""
        with self._lock:
            return len(self._refreshing)


class NginxUnavailable(RuntimeError):
    """No nginx binary; the message says how to get one."""


def find_nginx() -> str | None:
    """Path of an nginx binary (CACHELAB_NGINX, PATH, /usr/sbin), or None; CACHELAB_NGINX=off skips it."""
    chosen = os.environ.get("CACHELAB_NGINX", "").strip()
    if chosen.lower() in {"off", "0", "no", "false"}:
        return None
    if chosen:
        return chosen if Path(chosen).exists() else None
    found = shutil.which("nginx")
    if found:
        return found
    return "/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None


_CONF = """\
daemon off;
master_process off;      # one process, our child: started and stopped by its pid
worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections 512; }}
http {{
    log_format cachelab '$uri $upstream_cache_status';
    access_log {d}/access.log cachelab;   # unbuffered: verdicts() reads it
    client_body_temp_path {d}/body;  proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;   uwsgi_temp_path {d}/uwsgi;  scgi_temp_path {d}/scgi;
    proxy_cache_path {d}/cache levels=1:2 keys_zone=cachelab:4m max_size=64m inactive=1h
                     use_temp_path=off;
    map $http_accept_encoding $cachelab_ae {{ default identity; "~*gzip" gzip; }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://127.0.0.1:{origin_port};
            proxy_cache cachelab;
            proxy_cache_revalidate on;          # refresh expired entries with If-None-Match
            proxy_cache_background_update on;   # stale-while-revalidate refreshes in the background
            proxy_cache_lock on;                # one request fills a missing entry, the rest wait
            add_header X-Cache $upstream_cache_status always;
{extra}        }}
    }}
}}
"""




class NginxEdge:
    """nginx with ``proxy_cache`` in front of the origin: a child process with its own prefix.

    ``ignore_vary`` adds ``proxy_ignore_headers Vary`` (as CDNs that ignore Vary do);
    ``normalize_encoding`` keys the cache by gzip/identity instead of the raw header.
    """

    name = "nginx proxy_cache"

    def __init__(self, origin_url: str, *, ignore_vary: bool = False, normalize_encoding: bool = False):
        self.binary = find_nginx()
        if self.binary is None:
            raise NginxUnavailable("nginx is not installed: `apt-get install nginx-light` (Debian/Ubuntu), "
                                   "`brew install nginx` or `conda install -c conda-forge nginx`; "
                                   "the Python shared cache runs every experiment without it")
        self.origin_port = int(origin_url.rstrip("/").rsplit(":", 1)[1])
        self.ignore_vary = ignore_vary
        self.normalize_encoding = normalize_encoding
        self.port = 0
        self.dir: Path | None = None
        self.proc: subprocess.Popen | None = None

    def config(self) -> str:
        extra = ""
        if self.ignore_vary or self.normalize_encoding:
            extra += "            proxy_ignore_headers Vary;\n"
        if self.normalize_encoding:
            extra += ("            proxy_cache_key $scheme$proxy_host$request_uri$cachelab_ae;\n"
                      "            proxy_set_header Accept-Encoding $cachelab_ae;\n")
        return _CONF.format(d=self.dir, port=self.port, origin_port=self.origin_port, extra=extra)

    def start(self, timeout: float = 10.0) -> NginxEdge:
        self.dir = Path(tempfile.mkdtemp(prefix="cachelab-nginx-"))
        (self.dir / "cache").mkdir()
        self.port = free_port()
        conf = self.dir / "nginx.conf"
        conf.write_text(self.config())
        # SIGTERM (nginx's fast shutdown) if the kernel that started it dies first.
        self.proc = children.popen([self.binary, "-p", str(self.dir), "-c", str(conf),
                                    "-e", str(self.dir / "error.log")], what="nginx",
                                   sig=signal.SIGTERM, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.PIPE)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                err = self.proc.stderr.read().decode(errors="replace")
                self._cleanup()
                raise NginxUnavailable(f"nginx exited at start: {err.strip()[-500:]}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return self
            except OSError:
                time.sleep(0.02)
        self.stop()
        raise NginxUnavailable(f"nginx did not listen on port {self.port} within {timeout:g}s")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()  # SIGTERM: fast shutdown
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc is not None:
            children.untrack(self.proc.pid)
        if self.proc is not None and self.proc.stderr is not None:
            self.proc.stderr.close()
        self.proc = None
        self._cleanup()

    def _cleanup(self) -> None:
        if self.dir is not None:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> NginxEdge:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def verdicts(self, path: str | None = None) -> dict[str, int]:
        """``{X-Cache value: count}`` for the requests nginx answered, from its access log."""
        log = self.dir / "access.log" if self.dir else None
        if log is None or not log.exists():
            return {}
        out: Counter[str] = Counter()
        for line in log.read_text().splitlines():
            uri, _, verdict = line.partition(" ")
            if path is None or uri == path:
                out[verdict or "-"] += 1
        return dict(out)

    def version(self) -> str:
        out = subprocess.run([self.binary, "-v"], capture_output=True, text=True)
        return (out.stderr or out.stdout).strip().split("/")[-1]
