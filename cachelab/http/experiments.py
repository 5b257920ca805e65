"""Notebook 12's experiments: each one a plain function returning measured counts (JSON-ready)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from .client import Browser, Fetch, run_pattern, summarize
from .edge import NginxEdge, NginxUnavailable, PyEdge, find_nginx
from .headers import PROFILES, CachePolicy
from .origin import Origin

__all__ = ["Lab", "EDGES", "max_age_vs_s_maxage", "no_cache", "no_store", "cache_busting",
           "vary_encoding", "private_pages", "stale_when_down", "placeholder_etag", "legacy_headers",
           "origin_hit_table", "DEMO_PROFILES", "explore"]

#: Shared caches an experiment can put in front of the origin.
EDGES = ("none", "python", "nginx")

#: Short-lived versions of the profiles, for watching expiry in seconds instead of minutes.
DEMO_PROFILES: dict[str, CachePolicy | dict] = {
    "demo: max-age=2": CachePolicy(public=True, max_age=2),
    "demo: max-age=1, s-maxage=30": CachePolicy(public=True, max_age=1, s_maxage=30),
    "demo: no-cache": CachePolicy(no_cache=True),
    **{f"fixed: {k}": v for k, v in PROFILES.items()},
}


class Lab:
    """One origin for the whole notebook, shared caches started per experiment, and cleanup."""

    def __init__(self, r=None, keys=None, *, nginx: bool = True):
        self.r, self.keys = r, keys
        self.origin = Origin().start()
        self.nginx = find_nginx() if nginx else None
        self.nginx_error: str | None = None
        if self.nginx:
            try:  # a binary that cannot start here (permissions, SELinux) counts as absent
                NginxEdge(self.origin.url).start().stop()
            except NginxUnavailable as exc:
                self.nginx, self.nginx_error = None, str(exc)
        else:
            self.nginx_error = "nginx is not installed (apt-get install nginx-light)"

    def edges(self) -> list[str]:
        """Shared caches available here: always the Python one, nginx where installed."""
        return ["python", "nginx"] if self.nginx else ["python"]

    @contextmanager
    def edge(self, kind: str, **options) -> Iterator[PyEdge | NginxEdge | None]:
        """A fresh shared cache of ``kind`` ('python', 'nginx' or 'none'), stopped afterwards."""
        if kind not in EDGES:
            raise ValueError(f"kind must be one of {EDGES}, not {kind!r}")
        if kind == "none":
            yield None
            return
        if kind == "nginx" and not self.nginx:
            raise NginxUnavailable(self.nginx_error or "nginx unavailable")
        edge = (NginxEdge(self.origin.url, **options) if kind == "nginx"
                else PyEdge(self.origin.url, r=self.r, keys=self.keys, **options))
        edge.start()
        try:
            yield edge
        finally:
            edge.stop()

    def path(self, name: str) -> str:
        """A path no earlier run used, so counts never mix."""
        return f"/{name}/{uuid.uuid4().hex[:8]}"

    def close(self) -> None:
        self.origin.stop()


def _base(lab: Lab, edge) -> str:
    return edge.url if edge is not None else lab.origin.url


def max_age_vs_s_maxage(lab: Lab, edge_kind: str = "python", *, seconds: float = 4.0,
                        rate: float = 5.0, max_age: int = 1, s_maxage: int = 30) -> dict:
    """One browser reading for ``seconds``: with and without s-maxage; who answered each read."""
    out = {}
    for label, policy in (("max-age only", CachePolicy(public=True, max_age=max_age)),
                          ("max-age + s-maxage", CachePolicy(public=True, max_age=max_age,
                                                             s_maxage=s_maxage))):
        with lab.edge(edge_kind) as edge:
            path = lab.origin.serve(lab.path("api"), b'{"products": [1, 2, 3]}', policy)
            res = run_pattern(lab.origin, _base(lab, edge), path, requests=max(int(seconds * rate), 2),
                              seconds=seconds, edge=edge)
        res["cache_control"] = policy.cache_control()
        out[label] = res
    return out


def no_cache(lab: Lab, edge_kind: str = "python", *, requests: int = 20) -> dict:
    """``no-cache``: stored but revalidated on every use; count the 304s, then change the content."""
    with lab.edge(edge_kind) as edge:
        path = lab.origin.serve(lab.path("nocache"), b"<h1>price: 10</h1>", CachePolicy(no_cache=True))
        with Browser(_base(lab, edge)) as b:
            start = time.monotonic()
            fetches = [b.get(path) for _ in range(requests)]
            lab.origin.update(path, b"<h1>price: 12</h1>")
            after = b.get(path)
        hits = [h for h in lab.origin.hit_log(path) if h.t >= start]
        res = summarize(fetches + [after], hits, start)
        res["unchanged_bodies"] = sum(f.body == b"<h1>price: 10</h1>" for f in fetches)
        res["after_change"] = after.body.decode()
        res["edge"] = edge.verdicts(path) if edge is not None else {}
    return res


def no_store(lab: Lab, edge_kind: str = "python", *, requests: int = 20, users: int = 2) -> dict:
    """``no-store``: nothing kept anywhere, so every request reaches the origin."""
    with lab.edge(edge_kind) as edge:
        path = lab.origin.serve(lab.path("nostore"), b"balance: 1234.56", CachePolicy(no_store=True))
        return run_pattern(lab.origin, _base(lab, edge), path, requests=requests, users=users, edge=edge)


def cache_busting(lab: Lab, edge_kind: str = "python", *, reads: int = 10) -> dict:
    """A year-long max-age on a fixed URL vs a versioned one; reloads with and without immutable."""
    year = 31536000
    out: dict = {}
    with lab.edge(edge_kind) as edge, Browser(_base(lab, edge)) as b:
        v1, v2 = b"body { color: black }", b"body { color: teal }"
        fixed = lab.origin.serve(lab.path("css") + "/app.css", v1, CachePolicy(public=True, max_age=year))
        b.get(fixed)
        lab.origin.update(fixed, v2)  # deploy: same URL, new content
        out["same_url_after_deploy_stale"] = sum(b.get(fixed).body == v1 for _ in range(reads))
        policy = PROFILES["static asset"]
        old = lab.origin.asset("app.css", v1 + b"/*" + uuid.uuid4().hex.encode() + b"*/", policy)
        b.get(old)
        new = lab.origin.asset("app.css", v2 + b"/*" + uuid.uuid4().hex.encode() + b"*/", policy)
        got = [b.get(new) for _ in range(reads)]  # the page now links the new name
        out["versioned"] = {"old_path": old, "new_path": new,
                            "new_content_served": sum(f.body.startswith(v2) for f in got),
                            "origin_hits_new": lab.origin.hits(new)}
        for label, pol in (("max-age=1y", CachePolicy(public=True, max_age=year)),
                           ("max-age=1y, immutable", policy)):
            path = lab.origin.serve(lab.path("reload") + "/logo.svg", b"<svg/>", pol)
            b.get(path)
            for _ in range(reads):
                b.get(path, reload=True)
            out[f"reload: {label}"] = {"reloads": reads, "origin_hits": lab.origin.hits(path) - 1,
                                       "origin_statuses": lab.origin.statuses(path)}
    return out


def vary_encoding(lab: Lab, edge_kind: str = "python",
                  encodings: tuple[str, ...] = ("gzip, deflate, br", "gzip", "br, gzip", "identity"),
                  rounds: int = 2) -> dict:
    """The same page to clients with different Accept-Encoding: no Vary, Vary, Vary + normalised."""
    body = b"<p>" + b"cachelab " * 200 + b"</p>"
    out = {}
    for label, vary, normalize in (("no Vary", (), False), ("Vary: Accept-Encoding", ("Accept-Encoding",), False),
                                   ("Vary + normalised at the edge", ("Accept-Encoding",), True)):
        with lab.edge(edge_kind, **({"normalize_encoding": True} if normalize else {})) as edge:
            path = lab.origin.serve(lab.path("vary"), body, CachePolicy(public=True, max_age=60, vary=vary),
                                    gzip=True)
            fetches: list[Fetch] = []
            for _ in range(rounds):
                for ae in encodings:
                    with Browser(_base(lab, edge), cache=False, accept_encoding=ae) as client:
                        fetches.append(client.get(path))
            out[label] = {"requests": len(fetches), "origin_hits": lab.origin.hits(path),
                          "origin_statuses": {str(k): v for k, v in lab.origin.statuses(path).items()},
                          "undecodable": sum(not f.decodable for f in fetches),
                          "distinct_headers": len(set(encodings)),
                          "entries": edge.entries(path) if isinstance(edge, PyEdge) else None}
    return out


def private_pages(lab: Lab, edge_kind: str = "python", *, users: tuple[str, ...] = ("alice", "bob", "carol"),
                  rounds: int = 2) -> dict:
    """Per-user pages through a shared cache: the brief's API headers vs ``private``."""
    def page(user):
        return f"orders of {user}".encode()

    cases: list[tuple[str, dict, Callable]] = [
        ("brief: public + Vary: Authorization, CDN ignores Vary",
         {"ignore_vary": True}, lambda p: lab.origin.serve(p, page, raw_headers={
             "Cache-Control": "public, max-age=60, s-maxage=300", "Vary": "Authorization"})),
        ("brief: public + Vary: Authorization, CDN honours Vary",
         {}, lambda p: lab.origin.serve(p, page, raw_headers={
             "Cache-Control": "public, max-age=60, s-maxage=300", "Vary": "Authorization"})),
        ("fixed: private, no-cache", {}, lambda p: lab.origin.serve(p, page, PROFILES["private page"])),
    ]
    out = {}
    for label, options, serve in cases:
        with lab.edge(edge_kind, **options) as edge:
            path = lab.path("account")
            serve(path)
            browsers = {u: Browser(_base(lab, edge), user=u) for u in users}
            got = [(u, browsers[u].get(path)) for _ in range(rounds) for u in users]
            for b in browsers.values():
                b.close()
            out[label] = {
                "requests": len(got),
                "wrong_user": sum(f.body != page(u) for u, f in got),
                "origin_hits": lab.origin.hits(path),
                "origin_hits_per_user": {u: lab.origin.hits(path, user=u) for u in users},
                "shared_cache_hits": edge.verdicts(path).get("HIT", 0) if edge is not None else 0,
                "browser": {k: sum(f.browser == k for _, f in got) for k in ("hit", "revalidated", "network")},
            }
    return out


def _until_not_hit(client: Browser, path: str, timeout: float = 10.0) -> Fetch:
    # Wait for the shared copy to expire by asking: the answer changes from HIT when it does.
    deadline = time.monotonic() + timeout
    while True:
        f = client.get(path)
        if f.x_cache != "HIT" or time.monotonic() > deadline:
            return f
        time.sleep(0.05)


def stale_when_down(lab: Lab, edge_kind: str = "python", *, reads: int = 5) -> dict:
    """Stop the origin for real; see what stale-if-error serves, then stale-while-revalidate."""
    if edge_kind == "none":
        raise ValueError("stale responses come from a shared cache: choose 'python' or 'nginx'")
    out: dict = {}
    with lab.edge(edge_kind) as edge:
        client = Browser(edge.url, cache=False)
        paths = {
            "max-age=1, stale-if-error=600": lab.origin.serve(
                lab.path("sie"), b"menu v1", CachePolicy(public=True, max_age=1, stale_if_error=600)),
            "max-age=1": lab.origin.serve(lab.path("plain"), b"menu v1", CachePolicy(public=True, max_age=1)),
        }
        for path in paths.values():
            client.get(path)
        lab.origin.stop()
        try:
            for label, path in paths.items():
                first = _until_not_hit(client, path)
                rest = [first] + [client.get(path) for _ in range(reads - 1)]
                out[label] = {"statuses": [f.status for f in rest], "x_cache": [f.x_cache for f in rest],
                              "served_old_body": sum(f.body == b"menu v1" for f in rest),
                              "origin_hits_while_down": lab.origin.hits(path) - 1}
        finally:
            lab.origin.start()
        path = lab.origin.serve(lab.path("swr"), b"menu v1",
                                CachePolicy(public=True, max_age=2, stale_while_revalidate=60))
        client.get(path)
        lab.origin.update(path, b"menu v2")
        first = _until_not_hit(client, path)
        deadline = time.monotonic() + 10
        while lab.origin.hits(path) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)  # the refresh is a real request in the background: wait for it
        later = client.get(path)
        deadline = time.monotonic() + 10
        while later.body != b"menu v2" and time.monotonic() < deadline:
            later = client.get(path)
        out["max-age=2, stale-while-revalidate=60"] = {
            "first_after_expiry": {"x_cache": first.x_cache, "body": first.body.decode()},
            "then": {"x_cache": later.x_cache, "body": later.body.decode()},
            "origin_hits": lab.origin.hits(path)}
        client.close()
    return out


def placeholder_etag(lab: Lab, *, reloads: int = 3) -> dict:
    """The brief's constant ETag: after a deploy, revalidation says 304 and browsers keep old content."""
    out = {}
    for label, serve in (("brief: ETag: hash-of-content", {"raw_headers": {
                              "Cache-Control": "public, max-age=300, must-revalidate",
                              "ETag": "hash-of-content"}}),
                         ("fixed: ETag from the content", {"policy": CachePolicy(
                              public=True, max_age=300, must_revalidate=True)})):
        path = lab.origin.serve(lab.path("etag"), b"<h1>v1</h1>", **serve)
        with Browser(lab.origin.url) as b:
            b.get(path)
            lab.origin.update(path, b"<h1>v2</h1>")
            seen = [b.get(path, reload=True).body.decode() for _ in range(reloads)]
        out[label] = {"after_deploy": seen, "origin_statuses": lab.origin.statuses(path)}
    return out


def legacy_headers(lab: Lab, edge_kind: str = "python", *, requests: int = 10) -> dict:
    """Pragma: no-cache in a response changes nothing; Expires: 0 alone means 'always expired'."""
    out = {}
    for label, raw in (("Cache-Control: max-age=60 + Pragma: no-cache",
                        {"Cache-Control": "public, max-age=60", "Pragma": "no-cache"}),
                       ("Expires: 0 (and nothing else)", {"Expires": "0"})):
        with lab.edge(edge_kind) as edge:
            path = lab.origin.serve(lab.path("legacy"), b"hello", raw_headers=raw)
            res = run_pattern(lab.origin, _base(lab, edge), path, requests=requests,
                              client="no client cache", edge=edge)
        out[label] = {"requests": res["requests"], "origin_hits": res["origin_hits"]}
    return out


def _user_page(user: str | None) -> bytes:
    return f"page for {user}".encode()


def origin_hit_table(lab: Lab, edge_kind: str = "python", *, users: int = 3, per_user_requests: int = 8,
                     seconds: float = 2.0, progress=None) -> list[dict]:
    """The same traffic for every profile (browser caches + one shared cache): origin trips each."""
    rows = []
    profiles: dict[str, CachePolicy | dict] = {**{f"fixed: {k}": v for k, v in PROFILES.items()},
                                               "brief: API response (Vary: Authorization)": {
                                                   "Cache-Control": "public, max-age=60, s-maxage=300",
                                                   "Vary": "Authorization"},
                                               "brief: private page": {
                                                   "Cache-Control": "private, no-cache, no-store, must-revalidate",
                                                   "Pragma": "no-cache", "Expires": "0"}}
    per_user_profiles = {"fixed: private page", "fixed: sensitive", "brief: API response (Vary: Authorization)",
                         "brief: private page"}
    items = list(profiles.items())
    for name, policy in progress(items, leave=False) if progress else items:
        per_user = name in per_user_profiles  # these users log in and get pages of their own
        with lab.edge(edge_kind) as edge:
            kwargs = {"raw_headers": policy} if isinstance(policy, dict) else {"policy": policy}
            path = lab.origin.serve(lab.path("table"), _user_page if per_user else b"same for all", **kwargs)
            res = run_pattern(lab.origin, _base(lab, edge), path, requests=users * per_user_requests,
                              seconds=seconds, users=users, login=per_user, edge=edge)
        rows.append({"profile": name, "cache": edge_kind, "requests": res["requests"],
                     "origin_hits": res["origin_hits"], "origin_200": res["origin_statuses"].get("200", 0),
                     "origin_304": res["origin_statuses"].get("304", 0),
                     "browser_hits": res["browser"].get("hit", 0),
                     "shared_hits": res.get("edge", {}).get("HIT", 0)})
    return rows


def explore(lab: Lab, *, profile: str = "demo: max-age=2", client: str = "browser cache",
            shared: str = "python", requests: int = 30, seconds: float = 6.0, users: int = 2,
            progress=None) -> dict:
    """The widget's experiment: one profile, one client behaviour, one request pattern, measured."""
    if profile not in DEMO_PROFILES:
        raise ValueError(f"profile must be one of {list(DEMO_PROFILES)}, not {profile!r}")
    policy = DEMO_PROFILES[profile]
    with lab.edge(shared) as edge:
        path = lab.origin.serve(lab.path("explore"), b"<h1>hello</h1>", policy)
        res = run_pattern(lab.origin, _base(lab, edge), path, requests=requests, seconds=seconds,
                          users=users, client=client, edge=edge, progress=progress)
    res.update(profile=profile, client=client, shared=shared, cache_control=policy.cache_control())
    return res
