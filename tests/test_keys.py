"""Key building and glob-safe, prefix-scoped cleanup."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cachelab.keys import Keys, delete_prefix, escape_glob, scan_keys

GLOBBY = st.text(alphabet=st.sampled_from(list("*?[]\\^-:%ab4 2")), min_size=1, max_size=8)


def test_key_layout():
    k = Keys("08")
    assert k("user", 42) == "cachelab:08:user:42"
    assert k.child("t1")("user", 1) == "cachelab:08:t1:user:1"
    assert k("user", "1:orders") != k("user", 1, "orders")  # ':' inside a part is encoded


@pytest.mark.parametrize("part", [None, True, 1.5, b"x", object()])
def test_bad_parts_are_refused(part):
    with pytest.raises(TypeError, match="key parts must be str or int"):
        Keys("t")("user", part)


def test_escape_glob():
    assert escape_glob("a*b?c[d]e\\f") == "a\\*b\\?c\\[d\\]e\\\\f"
    with pytest.raises(TypeError):
        escape_glob(42)


def test_delete_prefix_refuses_foreign_prefixes(r):
    with pytest.raises(ValueError, match="refusing"):
        delete_prefix(r, "user")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ids=st.lists(GLOBBY, min_size=2, max_size=6, unique=True), data=st.data())
def test_cleanup_of_one_id_never_touches_another(r, keys, ids, data):
    """Property: deleting id X's keys leaves every other id's keys, whatever characters they hold."""
    delete_prefix(r, keys)  # hypothesis reuses the fixture: start each example empty
    for uid in ids:
        for what in ("profile", "orders"):
            r.set(keys("user", uid, what), uid)
    victim = data.draw(st.sampled_from(ids))
    deleted = delete_prefix(r, keys.child("user", victim))
    assert deleted == 2
    left = {k.decode() for k in scan_keys(r, keys.pattern())}
    assert left == {keys("user", uid, what) for uid in ids if uid != victim
                    for what in ("profile", "orders")}
    delete_prefix(r, keys)
