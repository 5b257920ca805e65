"""Run-size switches shared by every notebook: the FAST switch and the project home."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["FAST", "fast", "scaled", "home"]


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
