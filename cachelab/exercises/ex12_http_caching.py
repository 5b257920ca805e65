"""Self-checks for notebook 12 (HTTP caching): run the learner's answer against a real origin and cache."""

from __future__ import annotations

from ..http import Browser, HeaderMistake, Origin, PyEdge, audit, check_etag
from ..selfcheck import CheckFailed, expect, run_check


def check_1(etag_for_body) -> str:
    """Exercise 1: an ETag function that changes exactly when the content does."""
    samples = [b"", b"<h1>v1</h1>", b"<h1>v2</h1>", b"<h1>v1</h1> ", b"\x00\xff" * 1000]
    tags = []
    for body in samples:
        tag = etag_for_body(body)
        expect(isinstance(tag, str), f"return the ETag as a str, not {type(tag).__name__}")
        try:
            check_etag(tag)
        except HeaderMistake as exc:
            raise CheckFailed(str(exc)) from None
        expect(etag_for_body(body) == tag, f"two calls on the same content gave {tag} and "
               f"{etag_for_body(body)}: an ETag must depend on the content only (no time, no random)")
        tags.append(tag)
    expect(len(set(tags)) == len(tags), "different contents got the same ETag: after a deploy, caches "
           "would revalidate, hear 304 and keep the old page")
    with Origin() as origin, Browser(origin.url) as browser:
        old, new = b"<h1>price: 10</h1>", b"<h1>price: 12</h1>"
        origin.serve("/p", old, raw_headers={"Cache-Control": "no-cache", "ETag": etag_for_body(old)})
        browser.get("/p")
        again = browser.get("/p")
        expect(again.browser == "revalidated" and origin.statuses("/p").get(304) == 1,
               "an unchanged page should revalidate to 304 with your ETag")
        origin.serve("/p", new, raw_headers={"Cache-Control": "no-cache", "ETag": etag_for_body(new)})
        after = browser.get("/p")
        expect(after.body == new, "after the deploy the browser still showed the old page")
    return "unchanged content revalidates to a 304; a deploy reaches the browser at once"


def check_2(account_headers) -> str:
    """Exercise 2: headers for a per-user page that no shared cache may hand to another user."""
    headers = account_headers()
    expect(isinstance(headers, dict) and all(isinstance(v, str) for v in headers.values()),
           "return a dict of header name -> str value")
    problems = audit(headers)
    expect(not problems, "audit() found: " + " | ".join(problems))
    lower = {k.lower(): v for k, v in headers.items()}
    expect("cache-control" in lower, "say it with Cache-Control")

    def page(user):
        return f"orders of {user}".encode()

    with Origin() as origin:
        origin.serve("/account", page, raw_headers=headers)
        # Many CDNs ignore Vary (except Accept-Encoding): the headers alone must keep users apart.
        with PyEdge(origin.url, ignore_vary=True) as edge:
            users = ["alice", "bob"]
            browsers = {u: Browser(edge.url, user=u) for u in users}
            got = [(u, browsers[u].get("/account")) for _ in range(2) for u in users]
            for b in browsers.values():
                b.close()
            wrong = [(u, f.body.decode()) for u, f in got if f.body != page(u)]
            expect(not wrong, f"{wrong[0][0]} was shown {wrong[0][1]!r} by the shared cache: Vary alone does "
                   "not protect a per-user page from a cache that ignores it" if wrong else "")
            expect(edge.verdicts("/account").get("HIT", 0) == 0,
                   "the shared cache answered a request for this page from its copy")
            second = [f for u, f in got[len(users):]]
            reused = all(f.browser in {"hit", "revalidated"} for f in second)
            expect(reused, "the browser could not reuse the page at all: no-store is for secrets; a "
                   "per-user page can stay in the user's own browser cache")
    return "each user saw only their own page, and the browser still reused it"


CHECKS = {1: check_1, 2: check_2}


def check(n: int, answer) -> bool:
    """Run exercise ``n``'s self-check on ``answer`` and show the verdict."""
    return run_check(CHECKS[n], answer)
