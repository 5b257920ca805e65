"""Plumbing for the local cluster: process checks, pidfile reaping, CLUSTER INFO/NODES parsing."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

from .. import checks
from ..children import pid_alive as _pid_alive  # one definition; local.py imports it from here
from ..settings import home

__all__ = ["reap"]


def _clusters_home() -> Path:
    return home() / "cluster"


def _process_name(pid: int) -> str:
    """The executable name of ``pid`` ('' if it is gone)."""
    with contextlib.suppress(OSError):
        return Path(f"/proc/{pid}/comm").read_text().strip()
    out = subprocess.run(["ps", "-p", str(pid), "-o", "comm="], capture_output=True, text=True)
    return Path(out.stdout.strip()).name


def reap(name: str = "default", base: str | os.PathLike | None = None) -> list[int]:
    """SIGKILL redis-servers left behind by an earlier run of cluster ``name``; return their pids.

    A pid is only killed if its pidfile sits in that cluster's folder *and* the process is still
    a redis-server or valkey-server (pids are reused, so a stale pidfile alone is not enough).
    """
    folder = Path(base) if base else _clusters_home() / checks.name("cluster name", name)
    killed = []
    for pidfile in folder.glob("*/redis.pid"):
        text = pidfile.read_text().strip() if pidfile.exists() else ""
        pid = int(text) if text.isdigit() else 0
        if _pid_alive(pid) and _process_name(pid).startswith(("redis-server", "valkey-server")):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            deadline = time.monotonic() + 10
            while _pid_alive(pid) and time.monotonic() < deadline:
                time.sleep(0.02)
            killed.append(pid)
        pidfile.unlink(missing_ok=True)
    return killed


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _parse_info(raw) -> dict[str, str]:
    if isinstance(raw, dict):
        return {k: str(v) for k, v in raw.items()}
    out = {}
    for line in _text(raw).splitlines():
        key, _, value = line.partition(":")
        if value:
            out[key.strip()] = value.strip()
    return out


def _parse_node_line(line: str) -> dict:
    """One CLUSTER NODES line: id, address, flags, master id, link state and slot ranges."""
    parts = line.split()
    addr = parts[1].split("@")[0].split(",")[0]
    host, _, port = addr.rpartition(":")
    slots, migrating = [], []
    for item in parts[8:]:
        if item.startswith("["):
            migrating.append(item)  # e.g. [42->-<id>] while a slot is being migrated
        elif "-" in item:
            lo, hi = item.split("-")
            slots.append((int(lo), int(hi)))
        else:
            slots.append((int(item), int(item)))
    return {"id": parts[0], "host": host, "port": int(port) if port.isdigit() else 0,
            "flags": set(parts[2].split(",")), "master_id": None if parts[3] == "-" else parts[3],
            "link": parts[7], "slots": slots, "migrating": migrating,
            "epoch": int(parts[6])}
