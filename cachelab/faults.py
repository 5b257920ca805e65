"""Real faults on a private Redis server, as context managers: refusing writes, hung, stopped.

Only ever use these on a :class:`~cachelab.server.RedisProcess` of your own, never on the
server the other notebooks share.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from .server import RedisProcess

__all__ = ["refusing_writes", "hung", "stopped", "FAULTS"]


def _own(proc: RedisProcess) -> RedisProcess:
    if not isinstance(proc, RedisProcess):
        raise TypeError("faults need a private cachelab.RedisProcess, not a shared server "
                        f"(got {type(proc).__name__})")
    return proc


@contextmanager
def refusing_writes(proc: RedisProcess) -> Iterator[None]:
    """maxmemory 1 byte with noeviction: every write that may grow memory fails with OOM."""
    admin = _own(proc).client()
    saved = {k: admin.config_get(k)[k] for k in ("maxmemory", "maxmemory-policy")}
    admin.config_set("maxmemory-policy", "noeviction")
    admin.config_set("maxmemory", 1)
    try:
        yield
    finally:
        if proc.is_alive():
            admin.config_set("maxmemory", saved["maxmemory"])
            admin.config_set("maxmemory-policy", saved["maxmemory-policy"])
        admin.close()


@contextmanager
def hung(proc: RedisProcess) -> Iterator[None]:
    """SIGSTOP: connections open, nothing answers; what was sent runs after SIGCONT."""
    _own(proc).pause()
    try:
        yield
    finally:
        proc.resume()


@contextmanager
def stopped(proc: RedisProcess) -> Iterator[None]:
    """The server process really stops; it starts again (empty) on the same port afterwards."""
    _own(proc).stop()
    try:
        yield
    finally:
        proc.start()


FAULTS = {"refusing writes (OOM)": refusing_writes, "hung (SIGSTOP)": hung,
          "stopped": stopped}
