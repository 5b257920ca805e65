"""Clients: a browser with a private (hishel) cache, a plain one, and paced request patterns."""

from __future__ import annotations

import gzip
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import httpx
from hishel import CacheOptions
from hishel.httpx import CacheTransport

from .edge import _vary_matches, cache_key, memory_storage
from .headers import freshness_lifetime, parse_cache_control, parse_http_date

__all__ = ["Fetch", "Browser", "CLIENTS", "run_pattern", "summarize"]

#: Client behaviours the experiments and the widget offer.
CLIENTS = {
    "no client cache": "every request goes out, like curl or a server-side HTTP client",
    "browser cache": "a private RFC 9111 cache (hishel, shared=False), like a browser tab",
    "browser, reload each time": "the same cache, but every request is a reload (revalidates "
                                 "unless the stored response is fresh and immutable)",
}


@dataclass(frozen=True)
class Fetch:
    """What one request got back, as the client saw it."""

    t: float                    # time.monotonic() when it was sent
    path: str
    user: str | None
    status: int
    body: bytes                 # decoded (gzip undone), for comparing content
    x_cache: str | None         # the shared cache's verdict (HIT, MISS, STALE, ...)
    age: int | None
    browser: str                # hit | revalidated | network | off
    etag: str | None
    content_encoding: str | None
    decodable: bool             # the client asked for this encoding


class Browser:
    """One user agent: an identity, an Accept-Encoding, and optionally a private cache."""

    def __init__(self, base_url: str, *, user: str | None = None, cache: bool = True,
                 accept_encoding: str = "gzip, deflate, br", timeout: float = 5.0):
        self.base_url = base_url.rstrip("/")
        self.user = user
        self.accept_encoding = accept_encoding
        self.cache = cache
        self.storage = memory_storage() if cache else None
        transport: httpx.BaseTransport = httpx.HTTPTransport(retries=0)
        if cache:
            transport = CacheTransport(transport, self.storage, rfc=CacheOptions(shared=False))
        self.client = httpx.Client(transport=transport, timeout=timeout)

    def get(self, path: str, *, reload: bool = False) -> Fetch:
        """GET ``path``; ``reload=True`` behaves like the reload button (RFC 8246 for immutable)."""
        url = self.base_url + path
        headers = {"Accept-Encoding": self.accept_encoding}
        if self.user:
            headers["Authorization"] = f"Bearer {self.user}"
        if reload and not (self.cache and self._fresh_immutable(url, headers)):
            headers["Cache-Control"] = "no-cache"
        t = time.monotonic()
        extensions = {"caching": {"key": cache_key(url)}} if self.cache else {}
        request = self.client.build_request("GET", url, headers=headers, extensions=extensions)
        response = self.client.send(request, stream=True)
        try:
            raw = b"".join(response.iter_raw())  # as sent; decoded below, so the encoding shows
        finally:
            response.close()
        caching = response.extensions.get("caching", {})
        browser = ("off" if not self.cache else
                   "revalidated" if caching.get("from_cache") and caching.get("revalidated") else
                   "hit" if caching.get("from_cache") else "network")
        encoding = response.headers.get("content-encoding")
        body = raw
        if encoding == "gzip" and raw:
            body = gzip.decompress(raw)
        age = response.headers.get("age")
        return Fetch(t, path, self.user, response.status_code, body, response.headers.get("x-cache"),
                     int(age) if age and age.isdigit() else None, browser, response.headers.get("etag"),
                     encoding, encoding is None or encoding in self.accept_encoding)

    def _fresh_immutable(self, url: str, headers: dict) -> bool:
        wanted = {k.lower(): v for k, v in headers.items()}
        for entry in self.storage.get_entries(cache_key(url)):
            stored = {k.lower(): v for k, v in entry.response.headers.items()}
            if not _vary_matches({k.lower(): v for k, v in entry.request.headers.items()}, stored, wanted):
                continue
            lifetime = freshness_lifetime(stored, shared=False)
            date = parse_http_date(stored.get("date"))
            fresh = lifetime is not None and date is not None and time.time() - date < lifetime
            return fresh and "immutable" in parse_cache_control(stored.get("cache-control"))
        return False

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def run_pattern(origin, base_url: str, path: str, *, requests: int, seconds: float = 0.0,
                users: int = 1, client: str = "browser cache", login: bool = False,
                edge=None, progress: Callable | None = None) -> dict:
    """Send ``requests`` GETs for ``path`` evenly over ``seconds`` from ``users`` users.

    Users take turns; each has its own browser (cache per ``client``), and with ``login``
    sends ``Authorization: Bearer userN``. Returns what the clients saw, what ``edge`` (a
    shared cache, optional) answered, and what reached ``origin`` (plain, JSON-ready values).
    """
    if client not in CLIENTS:
        raise ValueError(f"client must be one of {list(CLIENTS)}, not {client!r}")
    if requests < 1 or users < 1 or seconds < 0:
        raise ValueError("requests and users must be >= 1 and seconds >= 0")
    names = [f"user{i + 1}" for i in range(users)]
    browsers = [Browser(base_url, user=n if login else None, cache=client != "no client cache")
                for n in names]
    before = edge.verdicts(path) if edge is not None else {}
    reload = client == "browser, reload each time"
    fetches: list[Fetch] = []
    start = time.monotonic()
    try:
        steps = range(requests)
        for i in progress(steps, leave=False) if progress else steps:
            due = start + (seconds * i / max(requests - 1, 1) if requests > 1 else 0.0)
            pause = due - time.monotonic()
            if pause > 0:
                time.sleep(pause)  # pacing the load, not standing in for any effect
            fetches.append(browsers[i % users].get(path, reload=reload))
    finally:
        for b in browsers:
            b.close()
    hits = [h for h in origin.hit_log(path) if h.t >= start]
    out = summarize(fetches, hits, start)
    if edge is not None:
        after = edge.verdicts(path)
        out["edge"] = {k: after[k] - before.get(k, 0) for k in after if after[k] - before.get(k, 0)}
    return out


def summarize(fetches: Sequence[Fetch], hits: Sequence, start: float) -> dict:
    """Counts and timelines (seconds since ``start``) from client fetches and origin hits."""
    return {
        "requests": len(fetches),
        "origin_hits": len(hits),
        "origin_statuses": {str(k): v for k, v in sorted(Counter(h.status for h in hits).items())},
        "statuses": {str(k): v for k, v in sorted(Counter(f.status for f in fetches).items())},
        # A browser-cache hit replays the X-Cache stored with it, so only count fresh answers.
        "x_cache": dict(Counter(f.x_cache or "-" for f in fetches if f.browser != "hit")),
        "browser": dict(Counter(f.browser for f in fetches)),
        "request_times": [round(f.t - start, 4) for f in fetches],
        "origin_times": [round(h.t - start, 4) for h in hits],
        "bodies": len({f.body for f in fetches if f.status == 200}),
        # Age: seconds the answering cache had held its copy (hishel sends it; nginx does not).
        "age_max": max((f.age for f in fetches if f.age is not None and f.browser != "hit"), default=None),
    }


