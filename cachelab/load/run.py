"""The driver: client threads on an arrival schedule, in this process or in worker processes."""

from __future__ import annotations

import math
import multiprocessing as mp
import os
import queue
import random
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .. import children
from .keysets import HotKey, Zipf
from .result import OUTCOMES, LoadResult, _result, _span

__all__ = ["LoadError", "RedisGet", "run_load", "redis_url"]


class LoadError(RuntimeError):
    """A load run could not start or a worker process failed."""


def redis_url(r) -> str:
    """A redis:// URL for the server a redis-py client talks to (to hand to worker processes)."""
    from urllib.parse import quote

    kw = r.connection_pool.connection_kwargs
    auth = ""
    if kw.get("password"):
        auth = f"{quote(kw.get('username') or '', safe='')}:{quote(kw['password'], safe='')}@"
    if kw.get("path"):
        return f"unix://{auth}{kw['path']}?db={kw.get('db', 0)}"
    return f"redis://{auth}{kw.get('host', '127.0.0.1')}:{kw.get('port', 6379)}/{kw.get('db', 0)}"


@dataclass(frozen=True)
class RedisGet:
    """Factory for the simplest request, a plain GET (``hit``/``miss``); picklable."""

    url: str
    pool: int = 256

    def __call__(self) -> Callable[[str], str]:
        from ..server import connect

        r = connect(self.url, max_connections=self.pool)

        def get(key: str) -> str:
            return "hit" if r.get(key) is not None else "miss"

        get.close = r.close
        return get


# --- one process's share of the clients -----------------------------------------------

def _outcome(returned) -> str:
    out = returned[-1] if isinstance(returned, tuple) and returned else returned
    if out not in OUTCOMES:
        raise TypeError(f"the request function returned {returned!r}; return one of {OUTCOMES} "
                        "(or a tuple whose last item is one)")
    return out


@dataclass
class _Plan:
    clients: int
    rate: float | None      # arrivals per second for this process; None = closed loop
    requests: int | None    # this process's share of the count bound
    duration: float | None
    seed: int
    first_client: int = 0


class _Driver:
    """Runs ``plan.clients`` threads against ``request`` and collects records in ``self.rows``."""

    def __init__(self, request: Callable[[str], Any], keys, plan: _Plan):
        self.request, self.keys, self.plan = request, keys, plan
        self.rows: list[tuple] = []  # list.append is atomic, so threads share it without a lock
        self._lock = threading.Lock()
        self._issued = 0
        self._rng = random.Random(plan.seed)
        self.threads: list[threading.Thread] = []

    def start(self, t0: float) -> None:
        self.t0 = t0
        self.stop_at = t0 + self.plan.duration if self.plan.duration else math.inf
        self._next = t0
        for i in range(self.plan.clients):
            th = threading.Thread(target=self._client, args=(i,), daemon=True,
                                  name=f"load-client-{self.plan.first_client + i}")
            self.threads.append(th)
            th.start()

    def _slot(self) -> float | None:
        """The next request's scheduled start (wall clock), or None when the run is over."""
        with self._lock:
            if self.plan.requests is not None and self._issued >= self.plan.requests:
                return None
            if self.plan.rate is None:
                at = time.time()
            else:  # open loop: Poisson arrivals, whether or not earlier requests finished
                at = self._next
                self._next += self._rng.expovariate(self.plan.rate)
            if at >= self.stop_at:
                return None
            self._issued += 1
            return at

    def _client(self, i: int) -> None:
        sample = self.keys.sampler(random.Random(self.plan.seed * 7919 + i))
        pid, client, t0 = os.getpid(), self.plan.first_client + i, self.t0
        request, rows = self.request, self.rows
        while True:
            at = self._slot()
            if at is None:
                return
            delay = at - time.time()
            if delay > 0:
                time.sleep(delay)
            key = sample()
            started, p0 = time.time(), time.perf_counter()
            error = None
            try:
                outcome = _outcome(request(key))
            except Exception as exc:  # recorded, not raised: errors are part of what we measure
                outcome, error = "error", f"{type(exc).__name__}: {exc}"[:300]
            service = time.perf_counter() - p0
            # Latency counts from the scheduled arrival: time spent waiting for a free client
            # is part of what a user would see (no coordinated omission).
            latency = max(service, started + service - at)
            rows.append((at - t0, started - t0, latency * 1000, service * 1000, outcome, key,
                         pid, client, error))

    def alive(self) -> bool:
        return any(th.is_alive() for th in self.threads)

    def join(self, timeout: float) -> int:
        """Wait for the clients; return how many are still stuck in a request."""
        deadline = time.monotonic() + timeout
        for th in self.threads:
            th.join(max(0.0, deadline - time.monotonic()))
        return sum(th.is_alive() for th in self.threads)


def _close(request) -> None:
    close = getattr(request, "close", None)
    if callable(close):
        close()


def _worker(factory, keys, plan: _Plan, out: mp.Queue, start: mp.Event, t0_box, grace: float):
    """Entry point of a worker process: build the request function, wait, drive, report."""
    children.worker_started()
    try:
        request = factory()
        driver = _Driver(request, keys, plan)
        out.put(("ready", os.getpid(), None))
        if not start.wait(120):
            raise LoadError("the parent never started the run")
        driver.start(t0_box.value)
        sent = 0
        while driver.alive():
            time.sleep(0.2)
            n = len(driver.rows)
            if n > sent:
                out.put(("rows", os.getpid(), driver.rows[sent:n]))
                sent = n
            if time.time() > driver.stop_at + grace:
                break
        stuck = driver.join(0 if driver.alive() else 1)
        _close(request)
        n = len(driver.rows)
        out.put(("done", os.getpid(), (driver.rows[sent:n], stuck)))
    except BaseException:
        out.put(("failed", os.getpid(), traceback.format_exc()))


# --- the entry point --------------------------------------------------------------------

def _check(name: str, value, *, integer: bool = False, optional: bool = True, low=0, high=None):
    if value is None and optional:
        return None
    kind = int if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kind) or value != value:
        raise TypeError(f"{name} must be {'an int' if integer else 'a number'}, got {value!r}")
    if value <= low or (high is not None and value > high):
        raise ValueError(f"{name} must be > {low}" + (f" and <= {high}" if high else "") +
                         f", got {value!r}")
    return value


def _split(total: int | float | None, parts: int) -> list:
    if total is None:
        return [None] * parts
    if isinstance(total, int):
        return [total // parts + (i < total % parts) for i in range(parts)]
    return [total / parts] * parts


def run_load(request: Callable[[str], Any] | None = None, *, keys: str | HotKey | Zipf,
             factory: Callable[[], Callable[[str], Any]] | None = None, clients: int = 50,
             rate: float | None = None, duration: float | None = None,
             requests: int | None = None, processes: int = 1, db=None,
             before_start: Callable[[], None] | None = None,
             on_update: Callable[[LoadResult], None] | None = None, update_every: float = 0.5,
             progress: bool = False, seed: int | None = None, grace: float = 30.0) -> LoadResult:
    """Drive ``clients`` concurrent clients against ``request(key)`` and record every request.

    ``request(key)`` returns an outcome from :data:`OUTCOMES` (or a tuple ending in one); an
    exception is recorded as ``error``. ``rate`` (requests/s over all clients) gives open-loop
    Poisson arrivals; ``None`` runs closed loop (each client back to back). The run stops at
    ``duration`` seconds or after ``requests`` requests, whichever comes first.

    With ``processes > 1`` the clients and the rate are split over worker processes; pass
    ``factory``, a picklable zero-argument callable that builds the request function inside
    each process (a notebook lambda cannot be sent to another process). A request function
    with a ``close()`` method is closed at the end. ``db`` (a :class:`cachelab.db.Database`)
    adds every query made on it during the run, from all processes, to the result.
    ``before_start`` runs right before the clock starts (e.g. to warm a cache);
    ``on_update(partial_result)`` is called every ``update_every`` seconds while it runs.
    """
    clients = _check("clients", clients, integer=True, optional=False, high=10_000)
    rate = _check("rate", rate, high=1e7)
    duration = _check("duration", duration, high=86_400)
    requests = _check("requests", requests, integer=True)
    processes = _check("processes", processes, integer=True, optional=False, high=64)
    if duration is None and requests is None:
        raise ValueError("give duration= (seconds) or requests= (a count), or both, so the run stops")
    if processes > clients:
        raise ValueError(f"{processes} processes need at least as many clients, got {clients}")
    if isinstance(keys, str):
        keys = HotKey(keys)
    if not hasattr(keys, "sampler"):
        raise TypeError(f"keys must be a key (str), HotKey or Zipf, got {type(keys).__name__}")
    if (request is None) == (factory is None):
        raise TypeError("pass exactly one of request= (a function) or factory= (builds one)")
    if processes > 1 and factory is None:
        raise ValueError("processes > 1 needs factory=, a picklable zero-argument callable that "
                         "builds the request function in each worker (e.g. a dataclass instance "
                         "defined in a module); a function from a notebook cannot be sent")
    seed = random.randrange(2**31) if seed is None else seed
    config = {"clients": clients, "rate": rate, "duration": duration, "requests": requests,
              "processes": processes, "keys": repr(keys), "seed": seed}
    shares = zip(_split(clients, processes), _split(rate, processes),
                 _split(requests, processes), strict=True)
    plans = [_Plan(c, r_, n, duration, seed + 1000 * i, sum(_split(clients, processes)[:i]))
             for i, (c, r_, n) in enumerate(shares)]
    if processes == 1:
        return _run_here(request if request is not None else factory(), keys, plans[0], db,
                         before_start, on_update, update_every, progress, grace, config)
    return _run_processes(factory, keys, plans, db, before_start, on_update, update_every,
                          progress, grace, config)


def _progress_bar(enabled: bool, plans: list[_Plan]):
    if not enabled:
        return None
    from tqdm.auto import tqdm

    expected = [p.requests if p.requests is not None else
                (p.rate * p.duration if p.rate else None) for p in plans]
    total = int(sum(expected)) if all(e is not None for e in expected) else None
    return tqdm(total=total, unit="req", desc="requests", leave=False)


def _pump(get_rows, done, plans, db, t0, on_update, update_every, progress, config):
    """The parent's loop while clients run: progress bar and live updates."""
    bar = _progress_bar(progress, plans)
    last_update, shown = time.monotonic(), 0
    try:
        while not done():
            time.sleep(0.05)
            rows = get_rows()
            if bar is not None and len(rows) > shown:
                bar.update(len(rows) - shown)
                shown = len(rows)
            if on_update is not None and time.monotonic() - last_update >= update_every:
                last_update = time.monotonic()
                on_update(_result(list(rows), db, t0, max(0.0, time.time() - t0), config))
    finally:
        if bar is not None:
            bar.update(len(get_rows()) - shown)
            bar.close()


def _run_here(request, keys, plan, db, before_start, on_update, update_every, progress, grace,
              config) -> LoadResult:
    driver = _Driver(request, keys, plan)
    try:
        if before_start is not None:
            before_start()
        t0 = time.time()
        driver.start(t0)
        hard_stop = driver.stop_at + grace
        _pump(lambda: driver.rows, lambda: not driver.alive() or time.time() > hard_stop,
              [plan], db, t0, on_update, update_every, progress, config)
        config["unfinished"] = driver.join(1.0)
    finally:
        _close(request)
    return _result(driver.rows, db, t0, _span(driver.rows, plan.duration), config)


def _run_processes(factory, keys, plans, db, before_start, on_update, update_every, progress,
                   grace, config) -> LoadResult:
    # spawn, not fork: a Jupyter kernel has threads, and forking a threaded process can deadlock.
    ctx = mp.get_context("spawn")
    out, start, t0_box = ctx.Queue(), ctx.Event(), ctx.Value("d", 0.0)
    procs = [ctx.Process(target=_worker, args=(factory, keys, plan, out, start, t0_box, grace),
                         daemon=True) for plan in plans]
    rows: list[tuple] = []
    done: set[int] = set()
    stuck = 0

    def drain(block: float = 0.0) -> None:
        nonlocal stuck
        try:
            while True:
                kind, pid, payload = out.get(timeout=block) if block else out.get_nowait()
                block = 0.0
                if kind == "rows":
                    rows.extend(payload)
                elif kind == "done":
                    rows.extend(payload[0])
                    stuck += payload[1]
                    done.add(pid)
                elif kind == "failed":
                    raise LoadError(f"worker process {pid} failed:\n{payload}")
        except queue.Empty:
            return

    try:
        for p in procs:
            p.start()
            children.track(p.pid, "load worker")
        ready, deadline = 0, time.monotonic() + 120
        while ready < len(procs):
            try:
                kind, pid, payload = out.get(timeout=0.5)
            except queue.Empty:
                dead = [p for p in procs if p.exitcode is not None]
                if dead:
                    raise LoadError(
                        f"worker process {dead[0].pid} exited (code {dead[0].exitcode}) while "
                        "starting. In a script, start runs under `if __name__ == '__main__':` "
                        "(worker processes import the main module)") from None
                if time.monotonic() > deadline:
                    raise LoadError("worker processes did not start within 120 s") from None
                continue
            if kind == "failed":
                raise LoadError(f"worker process {pid} failed while starting:\n{payload}")
            ready += kind == "ready"
        if before_start is not None:
            before_start()
        t0 = time.time() + 0.02
        t0_box.value = t0
        start.set()
        hard_stop = t0 + (plans[0].duration or 86_400) + grace + 10

        def finished() -> bool:
            drain()
            dead = [p for p in procs if not p.is_alive() and p.pid not in done]
            if dead:
                drain(0.5)
                dead = [p for p in dead if p.pid not in done]
            if dead:
                raise LoadError(f"worker process {dead[0].pid} died (exit code "
                                f"{dead[0].exitcode}) without reporting")
            return len(done) == len(procs) or time.time() > hard_stop

        _pump(lambda: rows, finished, plans, db, t0, on_update, update_every, progress, config)
    finally:
        for p in procs:
            if p.pid is None:  # never started
                continue
            p.join(5)
            if p.is_alive():
                p.kill()
                p.join(5)
            children.untrack(p.pid)
    config["unfinished"] = stuck + len(procs) - len(done)
    return _result(rows, db, t0, _span(rows, plans[0].duration), config)
