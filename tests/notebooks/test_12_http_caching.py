"""Notebook 12 runs headless; its origin counters show what each Cache-Control profile does."""

from __future__ import annotations

import pytest

from cachelab.http import find_nginx

from .conftest import execute


@pytest.fixture(scope="module")
def results(redis_url):
    with execute("12_http_caching") as tb:
        yield tb.value("results")


def test_nginx_ran_where_it_is_installed(results):
    assert results["nginx"] is (find_nginx() is not None)
    edges = {"python", "nginx"} if results["nginx"] else {"python"}
    assert set(results["public_max_age"]) == edges and set(results["stale"]) == edges


def test_public_max_age_reaches_the_origin_once_for_many_requests(results):
    for edge, run in results["public_max_age"].items():
        assert run["requests"] >= 20 and run["origin_hits"] == 1, edge
        assert run["statuses"] == {"200": run["requests"]}


def test_s_maxage_lets_the_shared_cache_outlive_the_browser(results):
    for edge, runs in results["s_maxage"].items():
        shared = runs["max-age + s-maxage"]
        assert shared["origin_hits"] == 1, edge
        assert shared["browser"].get("revalidated", 0) >= 1  # the browser's copy did expire
        assert runs["max-age only"]["origin_hits"] > 1  # without s-maxage the origin was asked again


def test_no_store_reaches_the_origin_every_time(results):
    for edge, run in results["no_store"].items():
        assert run["origin_statuses"] == {"200": run["requests"]}, edge


def test_no_cache_yields_304s_while_the_content_is_unchanged(results):
    for edge in ("none", "python"):
        run = results["no_cache"][edge]
        n = run["requests"] - 1  # the last request came after the content changed
        assert run["unchanged_bodies"] == n
        assert run["origin_statuses"] == {"200": 2, "304": n - 1}, edge
        assert "12" in run["after_change"]  # no-cache never serves the old price
    if "nginx" in results["no_cache"]:  # nginx does not store no-cache: full 200s
        assert results["no_cache"]["nginx"]["origin_statuses"].get("304", 0) == 0


def test_private_page_never_comes_from_the_shared_cache_for_another_user(results):
    for edge, cases in results["private"].items():
        fixed = cases["fixed: private, no-cache"]
        assert fixed["wrong_user"] == 0 and fixed["shared_cache_hits"] == 0, edge
        assert all(n >= 1 for n in fixed["origin_hits_per_user"].values())
        leaky = cases["brief: public + Vary: Authorization, CDN ignores Vary"]
        assert leaky["wrong_user"] > 0  # the brief's headers, shown failing


def test_stale_if_error_serves_while_the_origin_is_down(results):
    for edge, run in results["stale"].items():
        sie = run["max-age=1, stale-if-error=600"]
        assert set(sie["statuses"]) == {200} and set(sie["x_cache"]) == {"STALE"}, edge
        assert sie["served_old_body"] == len(sie["statuses"]) and sie["origin_hits_while_down"] == 0
        assert set(run["max-age=1"]["statuses"]) == {502}
        swr = run["max-age=2, stale-while-revalidate=60"]
        assert swr["first_after_expiry"]["body"] == "menu v1" and swr["then"]["body"] == "menu v2"
        assert swr["origin_hits"] == 2


def test_cache_busting_and_immutable(results):
    for edge, run in results["busting"].items():
        assert run["same_url_after_deploy_stale"] > 0, edge  # same URL: the old stylesheet stays
        v = run["versioned"]
        assert v["new_content_served"] > 0 and v["origin_hits_new"] == 1
        assert run["reload: max-age=1y, immutable"]["origin_hits"] == 0
    assert results["busting"]["none"]["reload: max-age=1y"]["origin_hits"] > 0


def test_vary_keeps_encodings_apart(results):
    for edge, cases in results["vary"].items():
        assert cases["no Vary"]["undecodable"] > 0, edge
        assert cases["Vary: Accept-Encoding"]["undecodable"] == 0
        normalized = cases["Vary + normalised at the edge"]
        assert normalized["undecodable"] == 0 and normalized["origin_hits"] == 2


def test_brief_pitfalls_are_shown(results):
    assert all(n > 0 for n in results["audit"].values())
    brief = results["etag_pitfall"]["brief: ETag: hash-of-content"]["after_deploy"]
    fixed = results["etag_pitfall"]["fixed: ETag from the content"]["after_deploy"]
    assert set(brief) == {"<h1>v1</h1>"} and set(fixed) == {"<h1>v2</h1>"}
    for edge, cases in results["legacy"].items():
        assert cases["Cache-Control: max-age=60 + Pragma: no-cache"]["origin_hits"] == 1, edge


def test_origin_hit_table(results):
    rows = {(row["profile"], row["cache"]): row for row in results["table"]}
    for (profile, cache), row in rows.items():
        if profile in {"fixed: static asset", "fixed: API response", "fixed: dynamic page"}:
            assert row["origin_hits"] == 1, (profile, cache)
        if profile in {"fixed: sensitive", "brief: private page"}:
            assert row["origin_200"] == row["requests"], (profile, cache)
    assert rows[("fixed: private page", "python")]["origin_304"] > 0
    # What the prose under the table says, for 3 logged-in users:
    for (profile, cache), row in rows.items():
        if profile == "brief: API response (Vary: Authorization)":
            assert row["origin_hits"] == 3, cache  # one per user, each copy left in the cache
        if profile == "fixed: private page":
            expected_200 = 3 if cache == "python" else row["requests"]  # nginx drops validators
            assert row["origin_200"] == expected_200, cache
            assert row["origin_200"] + row["origin_304"] == row["requests"], cache


def test_widget_function_ran_and_self_checks_report_unfinished(results):
    assert results["explore"]["requests"] > results["explore"]["origin_hits"] >= 1
    assert results["exercise_1"] is False and results["exercise_2"] is False
