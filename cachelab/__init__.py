"""cachelab: how caches really behave, measured against a live Redis and a real database."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from . import flavor
from .codec import CodecError, dumps, loads
from .db import Database
from .keys import Keys, delete_prefix, escape_glob
from .metrics import Counters, LatencyRecorder, Metrics
from .server import RedisProcess, RedisUnavailable, connect, features, server_version
from .settings import apply_start_method, fast, scaled

apply_start_method()  # CACHELAB_MP_START=spawn: behave as on macOS / Windows (see settings)

try:
    __version__ = version("cachelab")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0"

__all__ = [
    "CodecError", "Counters", "Database", "Keys", "LatencyRecorder", "Metrics", "RedisProcess",
    "RedisUnavailable", "connect", "delete_prefix", "dumps", "escape_glob", "fast", "features",
    "loads", "scaled", "server_version", "setup", "__version__",
]


def setup(namespace: str | int, *, latency_ms: float | None = None, quiet: bool = False):
    """The notebooks' setup cell: connect, open the database, and give a key builder.

    Returns ``(r, db, keys)`` after printing the server, client and database in use, and
    clears what an earlier run of this notebook left under its prefix, and reseeds the
    notebook's database so that every run starts from the same rows.
    """
    import platform

    import redis as redis_py

    from .db import DEFAULT_LATENCY_MS

    _activate_plotly()
    r = connect()
    keys = Keys(namespace)
    delete_prefix(r, keys)
    db = Database(name=f"nb{namespace}", reset=True,
                  latency_ms=DEFAULT_LATENCY_MS if latency_ms is None else latency_ms)
    if not quiet:
        kind, own = flavor.server_identity(r)
        name = "Valkey" if kind == "valkey" else "Redis"
        print(f"{name} {'.'.join(map(str, own))} ({r.cachelab_source}) · redis-py {redis_py.__version__}"
              f" · Python {platform.python_version()} · cachelab {__version__}")
        print(f"Database: SQLite {db.path.name}, latency knob {db.latency_ms:g} ms per query "
              f"(simulated network round trip) · keys under {keys.prefix}: · "
              f"FAST={'on' if fast() else 'off'}")
    return r, db, keys


def _activate_plotly() -> None:
    """Send plotly's one-off set-up output now, from the setup cell, not from inside a widget."""
    # With an offline renderer (`make html` sets PLOTLY_RENDERER=notebook) the first chart
    # carries all of plotly.js; sent from inside a panel's Output widget, nbconvert then waits
    # for its cell timeout. plotly has no public call for this, so a missing one is skipped.
    import plotly.io as pio

    activate = getattr(pio.renderers, "_activate_pending_renderers", None)
    if activate is not None:
        activate()
