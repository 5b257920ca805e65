"""Run-size switches shared by every notebook: the FAST switch, the project home, the start method."""

from __future__ import annotations

import multiprocessing
import os
from pathlib import Path

__all__ = ["FAST", "fast", "scaled", "home", "apply_start_method"]


def fast() -> bool:
    """True when CACHELAB_FAST=1 asks for small loads and short sleeps (the tests set it)."""
    return os.environ.get("CACHELAB_FAST", "").strip().lower() in {"1", "true", "yes", "on"}


FAST = fast()


def scaled(full, small):
    """Return ``small`` in FAST mode and ``full`` otherwise (read at call time)."""
    return small if fast() else full


def home() -> Path:
    """Folder for cachelab's state: the managed Redis, databases, logs.

    CACHELAB_HOME wins; otherwise ``.cachelab/`` at the top of the source checkout
    (the package is installed editable), falling back to ``~/.cachelab``.
    """
    env = os.environ.get("CACHELAB_HOME")
    if env:
        path = Path(env).expanduser()
    else:
        repo = Path(__file__).resolve().parent.parent
        path = repo / ".cachelab" if (repo / "pyproject.toml").exists() else Path.home() / ".cachelab"
    path.mkdir(parents=True, exist_ok=True)
    return path


def apply_start_method() -> str | None:
    """Make CACHELAB_MP_START (spawn | forkserver | fork) multiprocessing's default start method.

    Linux defaults to fork before Python 3.14; macOS and Windows use spawn and 3.14 forkserver.
    Setting CACHELAB_MP_START=spawn here runs everything as a learner's Mac would, so a code
    path that silently needs fork (a lambda target, state set before the fork) fails here too.
    """
    method = os.environ.get("CACHELAB_MP_START", "").strip().lower()
    if not method:
        return None
    if method not in multiprocessing.get_all_start_methods():
        raise ValueError(f"CACHELAB_MP_START={method!r}: use one of "
                         f"{', '.join(multiprocessing.get_all_start_methods())}")
    multiprocessing.set_start_method(method, force=True)
    return method
