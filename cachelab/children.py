"""Child processes die with their parent: a death signal, plus a pid-file registry as backstop.

Every server or worker cachelab starts for a kernel (throwaway redis-servers, cluster nodes,
nginx, worker processes) is started through :func:`popen` or marked with :func:`track`:

* on Linux the child asks the kernel for ``PR_SET_PDEATHSIG``, so a SIGKILLed notebook kernel
  takes its children with it. The signal fires when the *thread* that forked exits, so
  :func:`popen` forks from the main thread or from one long-lived spawner thread, never from a
  short-lived worker thread;
* everywhere, a record under ``.cachelab/children/`` names the child, its owner and its start
  time. :func:`sweep` (run by ``connect()``) stops children whose owner is gone, and
  ``cachelab doctor`` lists them (``cachelab doctor --stop-leftovers`` stops them).

The managed server (``cachelab redis start``) is deliberately not a child and is never tracked.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import Future
from pathlib import Path

from .settings import home

__all__ = ["Leftover", "die_with_parent", "leftovers", "pid_alive", "popen", "stop_leftovers", "sweep",
           "track", "untrack", "watch_parent", "worker_started"]

_PR_SET_PDEATHSIG = 1
_LIBC = None
if sys.platform.startswith("linux"):
    with contextlib.suppress(OSError):
        _LIBC = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)


def die_with_parent(sig: int = signal.SIGKILL) -> None:
    """Ask Linux to send ``sig`` to this process when its parent dies (no-op elsewhere)."""
    if _LIBC is not None:
        _LIBC.prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0)


def watch_parent(parent_pid: int) -> None:
    """In a Python worker: die with ``parent_pid``, even if it died before we got here."""
    die_with_parent()
    if os.getppid() != parent_pid:  # the parent is already gone: we were re-parented
        os._exit(1)


def worker_started() -> None:
    """First line of a multiprocessing worker's entry point: die with the parent process."""
    import multiprocessing

    parent = multiprocessing.parent_process()
    if parent is not None and parent.pid:
        watch_parent(parent.pid)


# --- forking from a thread that lives as long as the process --------------------------

_jobs: queue.SimpleQueue = queue.SimpleQueue()
_spawner: threading.Thread | None = None
_spawner_lock = threading.Lock()


def _spawn_loop() -> None:
    while True:
        fn, fut = _jobs.get()
        try:
            fut.set_result(fn())
        except BaseException as exc:  # handed to the caller, who re-raises it
            fut.set_exception(exc)


def _in_long_lived_thread(fn):
    """Run ``fn`` in the main thread (if we are in it) or in the one spawner thread."""
    global _spawner
    if threading.current_thread() is threading.main_thread():
        return fn()
    with _spawner_lock:
        if _spawner is None or not _spawner.is_alive():
            # A daemon thread never exits before the process does, so PDEATHSIG fires only
            # when the whole process dies.
            _spawner = threading.Thread(target=_spawn_loop, name="cachelab-spawner", daemon=True)
            _spawner.start()
    fut: Future = Future()
    _jobs.put((fn, fut))
    return fut.result()


def popen(cmd: list[str], *, what: str, sig: int = signal.SIGKILL, **kwargs) -> subprocess.Popen:
    """``subprocess.Popen(cmd)`` for a child that must not outlive this process; tracked."""
    def preexec() -> None:
        die_with_parent(sig)

    proc = _in_long_lived_thread(lambda: subprocess.Popen(cmd, preexec_fn=preexec, **kwargs))
    track(proc.pid, what)
    return proc


# --- the registry ---------------------------------------------------------------------

def _folder() -> Path:
    path = home() / "children"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _started(pid: int) -> str | None:
    """The process's start time (clock ticks since boot), to tell a reused pid apart."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        out = subprocess.run(["ps", "-p", str(pid), "-o", "lstart="], capture_output=True,
                             text=True)
        return out.stdout.strip() or None
    return None if fields[0] in ("Z", "X") else fields[19]  # a zombie is already dead


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` exists (a zombie child of ours is reaped and counts as gone)."""
    if pid <= 0:  # os.kill(0, ...) would signal our whole process group
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    with contextlib.suppress(ChildProcessError):
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done == pid:
            return False
    return True


def _alive(pid: int) -> bool:
    return pid_alive(pid) and _started(pid) is not None


def track(pid: int, what: str) -> None:
    """Record ``pid`` as a child of this process (``what`` is shown by the doctor)."""
    record = {"pid": pid, "owner": os.getpid(), "owner_started": _started(os.getpid()),
              "what": what, "started": _started(pid), "at": time.time()}
    with contextlib.suppress(OSError):
        (_folder() / f"{pid}.json").write_text(json.dumps(record))


def untrack(pid: int | None) -> None:
    """Forget ``pid`` (it was stopped on purpose)."""
    if pid:
        with contextlib.suppress(OSError):
            (_folder() / f"{pid}.json").unlink(missing_ok=True)


class Leftover(dict):
    """A tracked child still running although the process that started it is gone."""


def leftovers() -> list[Leftover]:
    """Tracked children whose owner died; records of children already gone are removed."""
    found = []
    for path in sorted(_folder().glob("*.json")):
        try:
            rec = json.loads(path.read_text())
            pid, owner = int(rec["pid"]), int(rec["owner"])
        except (OSError, ValueError, KeyError, TypeError):
            path.unlink(missing_ok=True)
            continue
        if not _alive(pid) or _started(pid) != rec.get("started"):
            path.unlink(missing_ok=True)  # gone, or the pid now belongs to someone else
            continue
        owner_alive = _alive(owner) and _started(owner) == rec.get("owner_started")
        if not owner_alive:
            found.append(Leftover(rec))
    return found


def stop_leftovers(timeout: float = 5.0) -> list[Leftover]:
    """SIGTERM every leftover, SIGKILL those still there after ``timeout``; return them."""
    found = leftovers()
    for rec in found:
        with contextlib.suppress(ProcessLookupError):
            os.kill(rec["pid"], signal.SIGCONT)  # a paused server cannot act on SIGTERM
            os.kill(rec["pid"], signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while any(_alive(rec["pid"]) for rec in found) and time.monotonic() < deadline:
        time.sleep(0.02)
    for rec in found:
        if _alive(rec["pid"]):
            with contextlib.suppress(ProcessLookupError):
                os.kill(rec["pid"], signal.SIGKILL)
        untrack(rec["pid"])
    return found


_swept = False


def sweep() -> list[Leftover]:
    """Once per process: stop what an earlier, killed kernel left running."""
    global _swept
    if _swept:
        return []
    _swept = True
    return stop_leftovers()
