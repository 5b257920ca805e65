"""cachelab.http: header builders refuse mistakes; origin, shared caches and browsers, measured."""

from __future__ import annotations

import socket
import threading

import httpx
import pytest

from cachelab.http import (
    BRIEF_PROFILES,
    PROFILES,
    Browser,
    CachePolicy,
    HeaderMistake,
    NginxEdge,
    Origin,
    PyEdge,
    audit,
    check_etag,
    etag_for,
    find_nginx,
    response_headers,
    run_pattern,
)
from cachelab.http.experiments import _until_not_hit
from cachelab.http.headers import etags_match, freshness_lifetime, http_date
from cachelab.server import server_version

from .waiting import until

NGINX = find_nginx()


# -- header builders -------------------------------------------------------------------

def test_policy_renders_cache_control_and_vary():
    p = CachePolicy(public=True, max_age=60, s_maxage=300, vary=("Accept-Encoding",))
    assert p.headers() == {"Cache-Control": "public, max-age=60, s-maxage=300", "Vary": "Accept-Encoding"}
    assert CachePolicy(no_store=True).cache_control() == "no-store"


@pytest.mark.parametrize("kwargs, words", [
    ({"public": True, "private": True, "max_age": 60}, "contradict"),
    ({"public": True, "max_age": 60, "vary": ("Authorization",)}, "private"),
    ({"s_maxage": 60, "vary": "Cookie"}, "one copy per user"),
    ({"max_age": 60, "no_store": True}, "no-store"),
    ({"no_store": True, "no_cache": True, "must_revalidate": True}, "no-cache"),
    ({"private": True, "s_maxage": 60}, "s-maxage"),
    ({"immutable": True}, "immutable"),
    ({"immutable": True, "max_age": 60, "no_cache": True}, "immutable"),
    ({"max_age": 60, "must_revalidate": True, "stale_if_error": 60}, "stale-if-error"),
    ({"max_age": -1}, "negative"),
    ({"max_age": 1.5}, "whole seconds"),
    ({"max_age": True}, "whole seconds"),
    ({"max_age": 2**40}, "2**31"),
    ({"max_age": 1, "vary": ("*",)}, "Vary: *"),
    ({"max_age": 1, "vary": ("Accept Encoding",)}, "header names"),
])
def test_policy_refuses_mistakes(kwargs, words):
    with pytest.raises(HeaderMistake, match=words.replace("*", r"\*")):
        CachePolicy(**kwargs)


@pytest.mark.parametrize("tag", ["hash-of-content", '"hash-of-content"', '"hash-of-response"',
                                 "abc123", 'W/abc', '"has space"', "", None])
def test_placeholder_and_unquoted_etags_are_refused(tag):
    with pytest.raises(HeaderMistake, match="etag_for"):
        check_etag(tag)


def test_etag_comes_from_the_content():
    a, b = etag_for(b"v1"), etag_for(b"v2")
    assert a != b and a == etag_for(b"v1") and check_etag(a) == a
    assert etag_for(b"v1", weak=True) == "W/" + a
    with pytest.raises(TypeError):
        etag_for("text")  # type: ignore[arg-type]


def test_weak_comparison_for_if_none_match():
    tag = etag_for(b"x")
    assert etags_match(tag, tag) and etags_match("W/" + tag, tag) and etags_match(f'"zz", {tag}', tag)
    assert etags_match("*", tag) and not etags_match('"other"', tag) and not etags_match(None, tag)


def test_response_headers_never_emit_legacy_fields_and_refuse_placeholders():
    h = response_headers(b"body", PROFILES["private page"], last_modified=0)
    assert h["ETag"] == etag_for(b"body") and h["Last-Modified"] == http_date(0)
    assert not {"Pragma", "Expires"} & set(h)
    with pytest.raises(HeaderMistake):
        response_headers(b"body", None, etag="hash-of-content")
    with pytest.raises(TypeError):
        response_headers(b"body", {"Cache-Control": "max-age=1"})  # type: ignore[arg-type]


def test_audit_finds_every_brief_mistake_and_passes_the_fixed_profiles():
    found = {name: " ".join(audit(h)) for name, h in BRIEF_PROFILES.items()}
    assert "placeholder" in found["static asset"]
    assert "Accept-Language" in found["dynamic page"]
    assert "one copy per user" in found["API response"]
    assert all(w in found["private page"] for w in ("no-store with", "Pragma", "Expires"))
    for name, policy in PROFILES.items():
        assert audit(response_headers(b"x", policy, last_modified=0)) == [], name
        assert CachePolicy.parse(policy.cache_control(), ", ".join(policy.vary)) == policy


def test_freshness_lifetime_follows_rfc_9111():
    h = {"Cache-Control": "public, max-age=60, s-maxage=300"}
    assert freshness_lifetime(h, shared=True) == 300 and freshness_lifetime(h, shared=False) == 60
    assert freshness_lifetime({"Expires": "0", "Date": http_date(0)}, shared=True) == 0
    assert freshness_lifetime({}, shared=True) is None


# -- the origin ------------------------------------------------------------------------

@pytest.fixture
def origin():
    o = Origin().start()
    yield o
    o.stop()


def test_origin_answers_304_to_etag_and_date_and_counts_both(origin):
    origin.serve("/p", b"v1", CachePolicy(no_cache=True))
    first = httpx.get(origin.url + "/p")
    assert first.status_code == 200 and first.headers["etag"] == etag_for(b"v1")
    inm = httpx.get(origin.url + "/p", headers={"If-None-Match": first.headers["etag"]})
    ims = httpx.get(origin.url + "/p", headers={"If-Modified-Since": first.headers["last-modified"]})
    assert inm.status_code == 304 and ims.status_code == 304 and inm.content == b""
    assert inm.headers["cache-control"] == "no-cache" and inm.headers["etag"] == first.headers["etag"]
    origin.update("/p", b"v2")
    again = httpx.get(origin.url + "/p", headers={"If-None-Match": first.headers["etag"]})
    assert again.status_code == 200 and again.content == b"v2"
    assert origin.statuses("/p") == {200: 2, 304: 2} and origin.hits() == 4


def test_origin_asset_names_follow_the_content(origin):
    a = origin.asset("app.css", b"body{}")
    b = origin.asset("app.css", b"body{color:red}")
    assert a != b and a.startswith("/static/app.") and a.endswith(".css")
    assert httpx.get(origin.url + a).content == b"body{}"


def test_origin_gzip_only_for_clients_that_accept_it(origin):
    origin.serve("/z", b"x" * 1000, CachePolicy(public=True, max_age=5), gzip=True)
    gz = httpx.get(origin.url + "/z", headers={"Accept-Encoding": "gzip"})
    plain = httpx.get(origin.url + "/z", headers={"Accept-Encoding": "identity"})
    refused = httpx.get(origin.url + "/z", headers={"Accept-Encoding": "gzip;q=0"})
    assert gz.headers["content-encoding"] == "gzip" and gz.content == b"x" * 1000
    assert "content-encoding" not in plain.headers and "content-encoding" not in refused.headers
    assert gz.headers["etag"] != plain.headers["etag"]  # two representations, two ETags


def test_origin_stop_is_a_real_outage_and_restart_keeps_the_port(origin):
    origin.serve("/p", b"v1", CachePolicy(max_age=1))
    port = origin.port
    with httpx.Client() as kept_alive:
        assert kept_alive.get(origin.url + "/p").status_code == 200
        origin.stop()
        with pytest.raises(httpx.TransportError):
            kept_alive.get(origin.url + "/p")  # the open connection was closed too
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    origin.start()
    assert origin.port == port and httpx.get(origin.url + "/p").status_code == 200


def test_origin_counts_every_request_under_concurrency(origin):
    origin.serve("/p", b"v1")

    def worker():
        with httpx.Client() as c:
            for _ in range(25):
                c.get(origin.url + "/p")

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert origin.hits("/p") == 200
    assert httpx.get(origin.url + "/missing").status_code == 404 and origin.hits("/missing") == 1


def test_origin_refuses_bad_resources(origin):
    with pytest.raises(ValueError):
        origin.serve("p", b"x")
    with pytest.raises(TypeError):
        origin.serve("/p", "text")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="str such as"):
        origin.serve(None, b"x")  # type: ignore[arg-type]


def test_a_placeholder_etag_keeps_browsers_on_old_content_after_a_deploy(origin):
    # The brief's ETag never changes, so revalidation always says 304 "not modified".
    origin.serve("/brief", b"v1", raw_headers={"Cache-Control": "no-cache", "ETag": "hash-of-content"})
    origin.serve("/fixed", b"v1", CachePolicy(no_cache=True))
    with Browser(origin.url) as b:
        assert b.get("/brief").body == b.get("/fixed").body == b"v1"
        origin.update("/brief", b"v2")
        origin.update("/fixed", b"v2")
        assert [b.get("/brief").body for _ in range(3)] == [b"v1"] * 3
        assert b.get("/fixed").body == b"v2"
    assert origin.statuses("/brief") == {200: 1, 304: 3}


def test_reload_skips_revalidation_only_for_immutable(origin):
    year = 31536000
    origin.serve("/imm", b"a", CachePolicy(public=True, max_age=year, immutable=True))
    origin.serve("/mut", b"a", CachePolicy(public=True, max_age=year))
    with Browser(origin.url) as b:
        for path in ("/imm", "/mut"):
            b.get(path)
            for _ in range(5):
                b.get(path, reload=True)
    assert origin.statuses("/imm") == {200: 1}
    assert origin.statuses("/mut") == {200: 1, 304: 5}


# -- shared caches ---------------------------------------------------------------------

def _edge(kind, origin, r, keys, **opts):
    if kind == "nginx":
        if NGINX is None:
            pytest.skip("nginx is not installed (apt-get install nginx-light); the Python cache ran")
        return NginxEdge(origin.url, **opts).start()
    return PyEdge(origin.url, r=r, keys=keys, **opts).start()


@pytest.fixture(params=["python", "nginx"])
def stack(request, origin, r, keys):
    edges = []

    def make(**opts):
        edge = _edge(request.param, origin, r, keys, **opts)
        edges.append(edge)
        return edge

    yield request.param, make
    for e in edges:
        e.stop()


def test_public_max_age_reaches_the_origin_once(stack, origin):
    _, make = stack
    edge = make()
    origin.serve("/a", b"asset", CachePolicy(public=True, max_age=60))
    res = run_pattern(origin, edge.url, "/a", requests=30, users=3, client="no client cache", edge=edge)
    assert res["origin_hits"] == 1 and res["statuses"] == {"200": 30}
    assert res["edge"].get("HIT") == 29


def test_no_store_reaches_the_origin_every_time(stack, origin):
    _, make = stack
    edge = make()
    origin.serve("/n", b"secret", CachePolicy(no_store=True))
    res = run_pattern(origin, edge.url, "/n", requests=12, users=3, edge=edge)
    assert res["origin_statuses"] == {"200": 12}


def test_browser_and_shared_cache_keep_for_different_times(stack, origin):
    # max-age=0: the browser revalidates every time; s-maxage=60: the shared cache answers.
    _, make = stack
    edge = make()
    origin.serve("/s", b"api", CachePolicy(public=True, max_age=0, s_maxage=60))
    res = run_pattern(origin, edge.url, "/s", requests=10, users=1, edge=edge)
    assert res["origin_hits"] == 1 and res["browser"] == {"network": 1, "revalidated": 9}


def test_private_page_never_comes_from_the_shared_cache(stack, origin):
    _, make = stack
    edge = make()
    origin.serve("/me", lambda user: f"account of {user}".encode(), PROFILES["private page"])
    users = ["alice", "bob", "carol"]
    browsers = {u: Browser(edge.url, user=u) for u in users}
    got = [(u, browsers[u].get("/me")) for _ in range(3) for u in users]
    for b in browsers.values():
        b.close()
    assert all(f.body == f"account of {u}".encode() for u, f in got)
    assert "HIT" not in edge.verdicts("/me")
    assert all(origin.hits("/me", user=u) == 3 for u in users)


def test_brief_api_headers_leak_through_a_cache_that_ignores_vary(stack, origin):
    kind, make = stack
    honest, careless = make(), make(ignore_vary=True)
    origin.serve("/api", lambda user: f"orders of {user}".encode(),
                 raw_headers={"Cache-Control": "public, max-age=60, s-maxage=300", "Vary": "Authorization"})
    for edge, leaks in ((honest, 0), (careless, 1)):
        first = Browser(edge.url, user="alice", cache=False).get("/api")
        second = Browser(edge.url, user="bob", cache=False).get("/api")
        assert first.body == b"orders of alice"
        assert (second.body == b"orders of alice") == bool(leaks), kind


def test_stale_if_error_serves_the_stored_copy_while_the_origin_is_down(stack, origin):
    _, make = stack
    edge = make()
    origin.serve("/sie", b"v1", CachePolicy(public=True, max_age=1, stale_if_error=600))
    origin.serve("/plain", b"v1", CachePolicy(public=True, max_age=1))
    client = Browser(edge.url, cache=False)
    assert client.get("/sie").status == client.get("/plain").status == 200
    origin.stop()
    try:
        sie = _until_not_hit(client, "/sie")
        plain = _until_not_hit(client, "/plain")
    finally:
        origin.start()
    assert (sie.status, sie.x_cache, sie.body) == (200, "STALE", b"v1")
    assert plain.status == 502
    assert origin.hits("/sie") == 1


def test_stale_while_revalidate_answers_at_once_and_refreshes_behind(stack, origin):
    _, make = stack
    edge = make()
    # max-age=2: Date has whole seconds, so a refreshed copy stays fresh for at least 1 s.
    origin.serve("/swr", b"v1", CachePolicy(public=True, max_age=2, stale_while_revalidate=60))
    client = Browser(edge.url, cache=False)
    client.get("/swr")
    origin.update("/swr", b"v2")
    stale = _until_not_hit(client, "/swr")
    assert (stale.x_cache, stale.body) in {("UPDATING", b"v1"), ("STALE", b"v1")}
    # The background refresh is a real request: wait for it to land.
    assert until(lambda: origin.hits("/swr") >= 2, 10.0)
    assert origin.hits("/swr") == 2
    assert until(lambda: client.get("/swr").body == b"v2", 10.0)
    assert origin.hits("/swr") == 2


def test_vary_accept_encoding_keeps_one_entry_per_encoding(stack, origin):
    kind, make = stack
    plain, normalized = make(), make(normalize_encoding=True)
    origin.serve("/novary", b"y" * 500, CachePolicy(public=True, max_age=60), gzip=True)
    origin.serve("/v", b"x" * 500, CachePolicy(public=True, max_age=60, vary=("Accept-Encoding",)),
                 gzip=True)
    origin.serve("/vn", b"x" * 500, CachePolicy(public=True, max_age=60, vary=("Accept-Encoding",)),
                 gzip=True)
    encodings = ["gzip, deflate, br", "gzip", "br, gzip", "identity"]

    def fetch_all(edge, path):
        out = []
        for ae in encodings * 2:
            with Browser(edge.url, cache=False, accept_encoding=ae) as client:
                out.append(client.get(path))
        return out

    broken = fetch_all(plain, "/novary")
    assert any(not f.decodable for f in broken)  # gzip served to the client that asked for identity
    assert origin.hits("/novary") == 1
    assert all(f.decodable for f in fetch_all(plain, "/v"))
    if kind == "nginx":  # one entry per distinct header value: 4 strings, 4 entries
        assert origin.hits("/v") == 4
    else:  # hishel revalidates a variant it lacks (often a 304) and keeps few: still > 2 trips
        assert origin.hits("/v") > 2
    # Normalised to the two encodings that exist: exactly one entry, one origin trip, each.
    assert all(f.decodable for f in fetch_all(normalized, "/vn")) and origin.hits("/vn") == 2


def test_no_cache_costs_304s_through_the_python_cache_and_200s_through_nginx(stack, origin):
    kind, make = stack
    edge = make()
    origin.serve("/nc", b"page", CachePolicy(no_cache=True))
    res = run_pattern(origin, edge.url, "/nc", requests=10, users=1, edge=edge)
    assert res["origin_hits"] == 10 and res["bodies"] == 1
    # nginx does not store no-cache responses at all; hishel stores them and revalidates.
    expected = {"200": 10} if kind == "nginx" else {"200": 1, "304": 9}
    assert res["origin_statuses"] == expected


def test_python_edge_keeps_its_entries_in_redis(origin, r, keys):
    with PyEdge(origin.url, r=r, keys=keys) as edge:
        origin.serve("/k", b"v", CachePolicy(public=True, max_age=60))
        Browser(edge.url, cache=False).get("/k")
        if server_version(r) < (7, 0, 0):  # hishel's RedisStorage uses PEXPIRE GT
            assert edge.storage_kind != "redis"
            pytest.skip("hishel's Redis storage needs Redis >= 7.0: the edge kept its entries "
                        "in SQLite instead")
        assert edge.storage_kind == "redis" and edge.entries("/k") == 1
        assert any(True for _ in r.scan_iter(match=edge.prefix + ":*"))
    assert not any(True for _ in r.scan_iter(match=edge.prefix + ":*"))  # stop() cleans up
