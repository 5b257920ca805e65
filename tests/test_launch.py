"""One-click launch files: .devcontainer/ (Codespaces, VS Code) and binder/ (mybinder).

No container engine runs here, so this checks what can be checked: the files parse, the
packages, make targets and port they name exist, and binder's postBuild and start scripts
really run (in a temporary copy of the repository, against the local redis-server).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from cachelab.server import managed_status, stop_managed

from .test_packaging import PYPROJECT, ROOT

DEVCONTAINER = ROOT / ".devcontainer"
BINDER = ROOT / "binder"
PACKAGES = {"redis-server", "nginx-light"}


def _devcontainer() -> dict:
    # devcontainer.json is JSON with comments; ours has whole-line // comments only.
    text = (DEVCONTAINER / "devcontainer.json").read_text()
    return json.loads(re.sub(r"(?m)^\s*//.*$", "", text))


def _apt_installs(dockerfile: str) -> set[str]:
    cmd = re.search(r"apt-get install ([^&]*)", dockerfile.replace("\\\n", " ")).group(1)
    return {w for w in cmd.split() if not w.startswith("-")}


def _make_targets() -> set[str]:
    text = (ROOT / "Makefile").read_text()
    return set(re.findall(r"(?m)^([a-z][\w-]*):", text))


def _python_ok(version: str) -> bool:
    minimum = PYPROJECT["project"]["requires-python"].removeprefix(">=")
    return tuple(map(int, version.split("."))) >= tuple(map(int, minimum.split(".")))


def test_devcontainer_builds_a_lab_with_redis_and_nginx():
    config = _devcontainer()
    dockerfile = (DEVCONTAINER / config["build"]["dockerfile"]).read_text()
    assert (DEVCONTAINER / config["build"]["context"] / "pyproject.toml").is_file()
    assert _apt_installs(dockerfile) == PACKAGES
    image_python = re.search(r"^FROM \S+python:\S*?(3\.\d+)", dockerfile, re.M).group(1)
    assert _python_ok(image_python)


def test_devcontainer_commands_are_make_targets_and_the_port_is_jupyterlabs():
    config = _devcontainer()
    commands = [config["postCreateCommand"], config["postStartCommand"],
                *config["postAttachCommand"].values()]
    for command in commands:
        target = re.fullmatch(r"make (\S+)", command).group(1)
        assert target in _make_targets(), command
    from jupyter_server.serverapp import DEFAULT_SERVER_PORT

    assert config["forwardPorts"] == [DEFAULT_SERVER_PORT]  # make lab runs on JupyterLab's default
    assert list(config["portsAttributes"]) == [str(DEFAULT_SERVER_PORT)]
    for name in config["customizations"]["codespaces"]["openFiles"]:
        assert (ROOT / name).is_file()


def test_binder_names_real_debian_packages_and_a_supported_python():
    apt = {line.strip() for line in (BINDER / "apt.txt").read_text().splitlines() if line.strip()}
    assert apt == PACKAGES
    assert _python_ok((BINDER / "runtime.txt").read_text().strip().removeprefix("python-"))
    if not shutil.which("apt-cache"):
        pytest.skip("no apt-cache here to look the packages up")
    for package in sorted(apt):
        shown = subprocess.run(["apt-cache", "show", package], capture_output=True, text=True)
        assert shown.returncode == 0 and f"Package: {package}" in shown.stdout, package


def _repo_copy(tmp_path: Path) -> Path:
    files = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True,
                           check=True).stdout.decode().split("\0")
    copy = tmp_path / "repo"
    for name in [f for f in files if f] + ["binder/postBuild", "binder/start"]:
        target = copy / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if (ROOT / name).is_file():
            shutil.copy2(ROOT / name, target)
    return copy


@pytest.mark.slow
def test_binder_postbuild_installs_cachelab(tmp_path):
    repo = _repo_copy(tmp_path)
    venv = tmp_path / "venv"
    subprocess.run([sys._base_executable, "-m", "venv", str(venv)], check=True)
    # The dependencies come from this venv (a .pth file), so pip installs only cachelab itself.
    site = Path(sysconfig.get_path("purelib", vars={"base": str(venv), "platbase": str(venv)}))
    (site / "_cachelab_deps.pth").write_text(sysconfig.get_path("purelib") + "\n")
    env = {**os.environ, "PATH": f"{venv / 'bin'}{os.pathsep}{os.environ['PATH']}"}
    done = subprocess.run([str(repo / "binder" / "postBuild")], cwd=repo, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    where = subprocess.run([str(venv / "bin" / "python"), "-c",
                            "import cachelab; print(cachelab.__file__)"], cwd=tmp_path,
                           capture_output=True, text=True, check=True).stdout.strip()
    assert Path(where) == repo / "cachelab" / "__init__.py"


def test_binder_start_starts_redis_then_runs_the_notebook_server(tmp_path, monkeypatch):
    if not shutil.which("redis-server"):
        pytest.skip("no local redis-server")
    home = tmp_path / "home"
    work = tmp_path / "work"
    work.mkdir()
    start = shutil.copy2(BINDER / "start", work / "start")
    env = {k: v for k, v in os.environ.items() if k not in {"REDIS_URL", "REDIS_SERVER"}}
    env |= {"CACHELAB_HOME": str(home),
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    # Stands in for jupyter: the command start execs must find the server already running.
    probe = ("import cachelab; r = cachelab.connect(); r.set('cachelab:launch:probe', 1);"
             "print(r.cachelab_source, r.info('server')['tcp_port'])")
    monkeypatch.setenv("CACHELAB_HOME", str(home))
    try:
        done = subprocess.run([start, sys.executable, "-c", probe], cwd=work, env=env,
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr[-2000:]
        state = managed_status()
        assert state is not None and os.path.realpath(state["binary"]) == os.path.realpath(
            shutil.which("redis-server"))
        assert done.stdout.split() == ["managed", str(state["port"])]
    finally:
        stop_managed()
