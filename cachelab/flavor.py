"""Which server binary to start (Redis or Valkey), and which features a running server has.

Valkey (the Linux Foundation fork of Redis 7.2) answers the same protocol, so cachelab runs
against it unchanged; it reports ``redis_version:7.2.4`` for compatibility and its own
``valkey_version``. Features are decided per server kind, not by version number alone.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess

import redis

from . import embedded

__all__ = [
    "RedisUnavailable", "SERVER_BINARIES", "FEATURES", "find_server_binary", "binary_identity",
    "redis_server_version", "server_version", "server_identity", "features", "missing_reason",
]

#: Binaries looked for on PATH, in this order, when REDIS_SERVER does not name one.
SERVER_BINARIES = ("redis-server", "valkey-server")

#: Server features the notebooks detect: name -> (minimum Redis version, what it is).
FEATURES: dict[str, tuple[tuple[int, int, int], str]] = {
    "client_tracking": ((6, 0, 0), "CLIENT TRACKING: server-assisted client-side caching"),
    "resp3": ((6, 0, 0), "RESP3 protocol (push messages)"),
    "functions": ((7, 0, 0), "Redis Functions (FUNCTION LOAD)"),
    "listpack": ((7, 0, 0), "listpack small encodings (hash-max-listpack-*)"),
    "client_side_cache": ((7, 4, 0), "redis-py's built-in client-side cache (CacheConfig)"),
    "hexpire": ((7, 4, 0), "per-field hash TTL (HEXPIRE)"),
}


class RedisUnavailable(RuntimeError):
    """No Redis server could be reached or started."""


def find_server_binary() -> str | None:
    """The server to start: REDIS_SERVER, else redis-server or valkey-server on PATH, else embedded."""
    wanted = os.environ.get("REDIS_SERVER", "").strip()
    if wanted:
        found = shutil.which(wanted)  # a name on PATH or a path
        if not found:
            raise RedisUnavailable(
                f"REDIS_SERVER={wanted!r} is not an executable on PATH. Install it "
                "(e.g. apt-get install valkey-server) or unset REDIS_SERVER.")
        return found
    for name in SERVER_BINARIES:
        found = shutil.which(name)
        if found:
            return found
    return embedded.binary()


def binary_identity(binary: str) -> tuple[str, tuple[int, ...]]:
    """('redis' or 'valkey', version) of a server binary, from its ``--version`` line."""
    out = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=10).stdout
    m = re.search(r"v=(\d+)\.(\d+)\.(\d+)", out)
    version = tuple(int(x) for x in m.groups()) if m else (0, 0, 0)
    return ("valkey" if out.lower().startswith("valkey") else "redis"), version


def redis_server_version(binary: str) -> tuple[int, ...]:
    """Version of a server binary (Valkey's own version for valkey-server)."""
    return binary_identity(binary)[1]


def server_version(r: redis.Redis) -> tuple[int, ...]:
    """The Redis version the connected server speaks, e.g. (7, 0, 15); Valkey 8 says (7, 2, 4)."""
    raw = r.info("server")["redis_version"]
    return tuple(int(x) for x in str(raw).split(".")[:3])


def server_identity(r: redis.Redis) -> tuple[str, tuple[int, ...]]:
    """('redis' or 'valkey', its own version) of the connected server."""
    info = r.info("server")
    name = str(info.get("server_name") or "redis").lower()
    raw = info.get("valkey_version") if name == "valkey" else info["redis_version"]
    return name, tuple(int(x) for x in str(raw).split(".")[:3])


def _has_command(r: redis.Redis, command: str) -> bool:
    # Sent without arguments, a known command fails on arity, an unknown one as unknown.
    # (COMMAND INFO would answer nil for it, which redis-py's reply parser cannot take.)
    try:
        r.execute_command(command)
    except redis.ResponseError as exc:
        return "unknown command" not in str(exc).lower()
    return True


def features(r: redis.Redis) -> dict[str, bool]:
    """Which of :data:`FEATURES` the connected server supports."""
    version = server_version(r)
    feats = {name: version >= minimum for name, (minimum, _) in FEATURES.items()}
    # Valkey 9 has HEXPIRE but still reports redis_version 7.2.4: ask the server itself.
    feats["hexpire"] = _has_command(r, "hexpire")
    # redis-py refuses CacheConfig unless the HELLO reply says server "redis", >= 7.4.
    feats["client_side_cache"] = feats["client_side_cache"] and server_identity(r)[0] == "redis"
    return feats


def missing_reason(feature: str, r: redis.Redis) -> str:
    """Why the connected server lacks ``feature``, in one sentence for doctor and the notebooks."""
    minimum, what = FEATURES[feature]
    name, version = server_identity(r)
    if name == "valkey":
        if feature == "client_side_cache":
            return f"{what}: redis-py enables it for Redis >= 7.4 only, not for Valkey"
        return f"{what}: Valkey {'.'.join(map(str, version))} does not have it"
    return f"{what}: needs Redis >= {'.'.join(map(str, minimum))}"
