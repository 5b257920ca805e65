"""LocalCluster and reap() refuse names that are not plain folder names, before touching disk."""

from __future__ import annotations

import pytest

from cachelab.checks import CachelabTypeError, CachelabValueError
from cachelab.cluster import LocalCluster, reap

BAD = ["", ".", "..", "a/b", "../x", "/tmp", "a\\b", "-x", ".hidden", "line\nbreak", "x" * 65,
       "a..b", "*", "é"]


@pytest.fixture
def home(tmp_path, monkeypatch):
    """A private CACHELAB_HOME holding a sibling cluster's folder that must survive."""
    monkeypatch.setenv("CACHELAB_HOME", str(tmp_path))
    sibling = tmp_path / "cluster" / "other" / "7000"
    sibling.mkdir(parents=True)
    (sibling / "nodes.conf").write_text("keep me")
    return tmp_path


@pytest.mark.parametrize("bad", BAD, ids=repr)
def test_bad_names_are_refused_and_nothing_is_deleted(home, bad):
    # LocalCluster("") used to resolve to the folder of every cluster; start() then emptied it.
    with pytest.raises(CachelabValueError, match="plain name"):
        LocalCluster(bad).start()
    with pytest.raises(CachelabValueError, match="plain name"):
        reap(bad)
    assert (home / "cluster" / "other" / "7000" / "nodes.conf").read_text() == "keep me"
    assert sorted(p.name for p in (home / "cluster").iterdir()) == ["other"]


@pytest.mark.parametrize("bad", [None, 7, b"demo", ["demo"]], ids=repr)
def test_a_name_must_be_a_str(home, bad):
    with pytest.raises(CachelabTypeError, match="cluster name must be a str"):
        LocalCluster(bad)


@pytest.mark.parametrize("kwargs, error", [
    ({"masters": True}, CachelabTypeError), ({"masters": 3.0}, CachelabTypeError),
    ({"masters": 2}, CachelabValueError), ({"masters": 2**70}, CachelabValueError),
    ({"replicas": -1}, CachelabValueError), ({"replicas": None}, CachelabTypeError),
    ({"node_timeout_ms": float("nan")}, CachelabTypeError), ({"node_timeout_ms": 99}, CachelabValueError)])
def test_bad_sizes_are_refused(home, kwargs, error):
    with pytest.raises(error, match=next(iter(kwargs)).split("_ms")[0]):
        LocalCluster("demo", **kwargs)


def test_plain_names_are_accepted(home):
    for good in ("demo", "nb13", "test-x-1a2b3c", "a.b_c-9"):
        assert LocalCluster(good).dir == home / "cluster" / good
