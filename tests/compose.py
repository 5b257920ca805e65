"""Run ``docker compose`` on the repository's compose file, or skip when docker is not here."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def compose(*args: str) -> subprocess.CompletedProcess:
    """``docker compose <args>`` in the repo, with placeholder secrets; skips without docker."""
    docker = shutil.which("docker")
    if not docker:
        pytest.skip("docker client not installed; the YAML checks above still ran")
    if subprocess.run([docker, "compose", "version"], capture_output=True).returncode != 0:
        pytest.skip("the docker compose plugin is not installed; the YAML checks above still ran")
    env = {"REDIS_PASSWORD": "x", "JUPYTER_TOKEN": "y", "PATH": "/usr/bin:/bin:/usr/local/bin"}
    return subprocess.run([docker, "compose", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True)
