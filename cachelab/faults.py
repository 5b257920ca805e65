"""Real faults on a private Redis server, as context managers: refusing writes, hung, stopped.

Only ever use these on a :class:`~cachelab.server.RedisProcess` of your own, never on the
server the other notebooks share.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager

from .server import RedisProcess

__all__ = ["refusing_writes", "hung", "stopped", "FAULTS", "between_steps", "outage_drill"]


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
    _own(proc).pause()  # returns once the kernel reports the process stopped
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


@contextmanager
def between_steps(pattern, fault: Callable, proc: RedisProcess,
                  before: Callable[[int, dict], object] | None = None) -> Iterator[None]:
    """Inject ``fault(proc)`` once, between the next write's database commit and its cache write.

    Uses the pattern's ``between_steps`` hook; ``before(user_id, row)`` runs first (e.g. a
    concurrent writer). The fault is cleared when the block ends.
    """
    with ExitStack() as stack:
        fired = []

        def hook(user_id: int, row: dict) -> None:
            if fired:
                return
            fired.append(user_id)
            if before is not None:
                before(user_id, row)
            stack.enter_context(fault(proc))

        pattern.between_steps = hook
        try:
            yield
        finally:
            pattern.between_steps = None


_ACTIONS = {"none": None, "stop": "stop", "start": "start", "pause": "pause", "resume": "resume"}


def outage_drill(pattern, proc: RedisProcess, ids: Sequence[int], expected: dict,
                 phases: Sequence[tuple[str, str, float]], rate: float = 100.0,
                 progress=None) -> list[dict]:
    """Read ``ids`` in turn at ``rate`` per second through phases like ("Redis stopped", "stop", 1.5).

    Each phase first applies its action to ``proc`` (none/stop/start/pause/resume), then
    reads for its duration. Returns one sample per read: time (s), latency (ms), the phase,
    where the answer came from (counted by the pattern: "cache", "database (miss)" or
    "database (Redis down)"), whether it equals ``expected[id]``, and any error.
    """
    if not (isinstance(rate, (int, float)) and rate > 0):
        raise ValueError(f"rate must be a positive number of reads per second, got {rate!r}")
    if not ids:
        raise ValueError("ids must name at least one id to read")
    for _, action, seconds in phases:
        if action not in _ACTIONS:
            raise ValueError(f"unknown action {action!r}; use one of {sorted(_ACTIONS)}")
        if not seconds > 0:
            raise ValueError(f"phase durations must be positive, got {seconds!r}")
    samples: list[dict] = []
    counters = pattern.metrics.counters
    t0 = time.perf_counter()
    n = 0
    bar = progress(total=len(phases), desc="outage drill") if progress else None
    for label, action, seconds in phases:
        if _ACTIONS[action]:
            getattr(proc, _ACTIONS[action])()
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            due = t0 + n / rate
            if due > time.perf_counter():
                time.sleep(due - time.perf_counter())  # pacing: one read every 1/rate s
            uid = ids[n % len(ids)]
            n += 1
            before = counters.snapshot()
            start = time.perf_counter()
            error = None
            try:
                row = pattern.read(uid)
            except Exception as exc:  # recorded: a read that raises is what we are testing for
                row, error = None, f"{type(exc).__name__}: {exc}"
            ms = (time.perf_counter() - start) * 1000
            after = counters.snapshot()
            if after.get("hits", 0) > before.get("hits", 0):
                source = "cache"
            elif after.get("fallbacks", 0) > before.get("fallbacks", 0):
                source = "database (Redis down)"
            elif error:
                source = "error"
            else:
                source = "database (miss)"
            samples.append({"t": start - t0, "ms": ms, "phase": label, "source": source,
                            "ok": error is None and row == expected.get(uid), "error": error})
        if bar:
            bar.update()
    if bar:
        bar.close()
    return samples
