"""A local Redis Cluster (3 masters + 3 replicas by default) made of real redis-server processes.

Each node is a :class:`cachelab.server.RedisProcess` on 127.0.0.1 with ``--cluster-enabled yes``,
its own folder under ``.cachelab/cluster/<name>/<port>/`` (``nodes.conf``, log, pidfile) and a
short ``--cluster-node-timeout`` so a failover happens within seconds. Teardown is layered,
because a notebook kernel or a test can die at any point: ``with LocalCluster() as c``, an
``atexit`` hook, and pidfiles that the next ``start()`` of the same name uses to reap leftovers.
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import json
import os
import shutil
import time
import weakref
from pathlib import Path

import redis
from redis.cluster import ClusterNode, RedisCluster

from .. import checks
from ..progress import counting
from ..server import (
    RedisProcess,
    RedisUnavailable,
    find_redis_server,
    free_port,
    redis_server_version,
)
from ._util import (
    _clusters_home,
    _parse_info,
    _parse_node_line,
    _pid_alive,
    _port_free,
    _text,
    reap,
)
from .slots import SLOTS

__all__ = ["LocalCluster", "ClusterError", "reap", "DEFAULT_NODE_TIMEOUT_MS"]

#: The demo's failure-detection timeout. Redis's default is 15000 ms; 1000 ms makes a failover
#: happen in about two seconds, while staying far above loopback round trips (~0.1 ms).
DEFAULT_NODE_TIMEOUT_MS = 1000

_LIVE: weakref.WeakSet[LocalCluster] = weakref.WeakSet()


class ClusterError(RuntimeError):
    """The local cluster could not be started, formed or reached."""


class LocalCluster:
    """Start, inspect, break and stop a local Redis Cluster.

    >>> with LocalCluster("demo") as cluster:
    ...     rc = cluster.client()
    ...     rc.set("greeting", "hello")
    """

    def __init__(self, name: str = "default", *, masters: int = 3, replicas: int = 1,
                 node_timeout_ms: int = DEFAULT_NODE_TIMEOUT_MS,
                 base: str | os.PathLike | None = None, binary: str | None = None,
                 args: tuple[str, ...] | list[str] = ()):
        # The name becomes a folder that _claim() empties: '' or '..' would make it the parent
        # of every cluster (or of .cachelab/) and delete what is there.
        self.name = checks.name("cluster name", name)
        # With fewer masters no majority survives the loss of one, so no failover can happen.
        checks.count("masters", masters, low=3, high=50,
                     hint=" (a Redis Cluster needs at least 3 masters for a failover)")
        checks.count("replicas per master", replicas, low=0, high=10)
        checks.count("node_timeout_ms", node_timeout_ms, low=100, high=60_000,
                     hint=" (milliseconds; the demo uses 1000)")
        self.n_masters = masters
        self.n_replicas = replicas
        self.node_timeout_ms = int(node_timeout_ms)
        self.dir = Path(base) if base else _clusters_home() / name
        self.binary = binary or find_redis_server()
        if not self.binary:
            raise RedisUnavailable("no redis-server binary found for the cluster")
        self.version = redis_server_version(self.binary)
        self.args = list(args)
        self.settings: dict[str, str] = {}  # CONFIG SET values, re-applied after a restart
        self.nodes: dict[int, RedisProcess] = {}  # port -> process, in creation order
        self.bus_ports: dict[int, int] = {}

    # --- lifecycle -------------------------------------------------------------------

    @contextlib.contextmanager
    def _lock(self):
        self.dir.mkdir(parents=True, exist_ok=True)
        with open(self.dir / "cluster.lock", "w") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def _state_path(self) -> Path:
        return self.dir / "cluster.json"

    def _claim(self) -> None:
        """Refuse if another live Python process owns this cluster; otherwise reap leftovers."""
        with contextlib.suppress(OSError, ValueError):
            owner = int(json.loads(self._state_path().read_text()).get("owner_pid", 0))
            if owner != os.getpid() and _pid_alive(owner):
                raise ClusterError(
                    f"cluster {self.name!r} is in use by process {owner}; stop it there, or "
                    f"use another name: LocalCluster('other-name')")
        for other in list(_LIVE):
            if other is not self and other.dir == self.dir:
                other._stop_nodes()  # the same notebook started it again: replace the old one
        reap(base=self.dir)
        for child in self.dir.iterdir():
            if child.is_dir():
                shutil.rmtree(child, ignore_errors=True)  # old nodes.conf would resurrect the old cluster

    def _write_state(self) -> None:
        state = {"owner_pid": os.getpid(), "node_timeout_ms": self.node_timeout_ms,
                 "nodes": [{"port": p, "bus_port": self.bus_ports[p], "pid": n.pid}
                           for p, n in self.nodes.items()]}
        self._state_path().write_text(json.dumps(state, indent=2))

    def _bus_port_args(self, port: int) -> tuple[int, list[str]]:
        if self.version >= (7, 0, 0):
            bus = free_port()
            return bus, ["--cluster-port", str(bus)]
        return port + 10000, []  # before 7.0 the bus port is always port + 10000

    def _free_node_port(self) -> int:
        while True:
            port = free_port()
            if self.version >= (7, 0, 0) or (port < 55535 and _port_free(port + 10000)):
                return port

    def _spawn(self) -> RedisProcess:
        port = self._free_node_port()
        bus, bus_args = self._bus_port_args(port)
        workdir = self.dir / str(port)
        args = ["--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
                "--cluster-node-timeout", str(self.node_timeout_ms),
                "--pidfile", str(workdir / "redis.pid"),
                # Replicas sync at once instead of waiting 5 s for others to share the transfer.
                "--repl-diskless-sync-delay", "0", *bus_args, *self.args]
        proc = RedisProcess(port, workdir=workdir, binary=self.binary, args=args)
        self.nodes[port] = proc
        self.bus_ports[port] = bus
        proc.start()
        self._write_state()
        return proc

    def start(self, timeout: float = 60.0, *, progress: bool = False) -> LocalCluster:
        """Start the nodes, assign slots, join them, attach replicas, and wait until healthy.

        ``progress`` shows a bar over those steps (one per node, then forming, then healthy).
        """
        if any(proc.is_alive() for proc in self.nodes.values()):
            return self  # already running: start() twice is harmless
        n_nodes = self.n_masters * (1 + self.n_replicas)
        bar = counting(n_nodes + 2, "starting the cluster", unit="step", enabled=progress)
        with self._lock():
            self._claim()
            self.nodes, self.bus_ports = {}, {}
            _LIVE.add(self)
            try:
                for _ in range(n_nodes):
                    self._spawn()
                    bar.update()
                self._form()
                bar.update()
                self.wait_healthy(timeout)
                bar.update()
            except BaseException:
                self._stop_nodes()
                raise
            finally:
                bar.close()
        return self

    def _form(self) -> None:
        ports = list(self.nodes)
        masters, replicas = ports[:self.n_masters], ports[self.n_masters:]
        for i, port in enumerate(masters):
            lo, hi = i * SLOTS // self.n_masters, (i + 1) * SLOTS // self.n_masters - 1
            c = self.node_client(port)
            if self.version >= (7, 0, 0):
                c.execute_command("CLUSTER", "ADDSLOTSRANGE", lo, hi)
            else:
                c.execute_command("CLUSTER", "ADDSLOTS", *range(lo, hi + 1))
            # Distinct config epochs, as redis-cli does, so no epoch collision has to be resolved.
            c.execute_command("CLUSTER", "SET-CONFIG-EPOCH", i + 1)
        first = self.node_client(ports[0])
        for port in ports[1:]:
            meet = ["CLUSTER", "MEET", "127.0.0.1", port]
            if self.version >= (7, 0, 0):
                meet.append(self.bus_ports[port])
            first.execute_command(*meet)
        self._wait(lambda: all(len(self._known(p)) == len(ports) for p in ports), 30,
                   "the nodes did not all learn about each other (cluster bus ports blocked?)")
        ids = {p: self.node_client(p).execute_command("CLUSTER", "MYID") for p in ports}
        for j, port in enumerate(replicas):
            master = masters[j % self.n_masters]
            self.node_client(port).execute_command("CLUSTER", "REPLICATE", _text(ids[master]))

    def _known(self, port: int) -> list[dict]:
        nodes = self.nodes_view(port)
        return [n for n in nodes if not {"handshake", "noaddr"} & n["flags"]]

    def _wait(self, cond, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(redis.RedisError, OSError):
                if cond():
                    return
            time.sleep(0.05)
        raise ClusterError(f"{what} within {timeout:.0f}s; node logs are in {self.dir}")

    def stop(self) -> None:
        """Stop every node (SIGTERM, then SIGKILL) and forget the cluster. Safe to call twice."""
        with self._lock():
            self._stop_nodes()

    def _stop_nodes(self) -> None:
        for proc in self.nodes.values():
            with contextlib.suppress(Exception):
                proc.stop(timeout=5)
        reap(base=self.dir)  # anything the objects above did not know about
        self._state_path().unlink(missing_ok=True)
        _LIVE.discard(self)

    def __enter__(self) -> LocalCluster:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # --- clients ---------------------------------------------------------------------

    @property
    def ports(self) -> list[int]:
        """Client ports of every node this object started, in creation order."""
        return list(self.nodes)

    def startup_nodes(self) -> list[ClusterNode]:
        """ClusterNode entries for redis-py (any one would do; all of them survive a failure)."""
        return [ClusterNode("127.0.0.1", p) for p in self.nodes]

    def client(self, **kwargs) -> RedisCluster:
        """A RedisCluster client: blocking per-node pools, short timeouts for quick failure."""
        opts = {"socket_timeout": 2.0, "socket_connect_timeout": 1.0,
                "connection_pool_class": redis.BlockingConnectionPool, "max_connections": 64}
        opts.update(kwargs)
        return RedisCluster(startup_nodes=self.startup_nodes(), **opts)

    def node_client(self, port: int, **kwargs) -> redis.Redis:
        """A plain (non-cluster) client of one node: it sees MOVED/ASK instead of following them."""
        opts = {"socket_timeout": 2.0, "socket_connect_timeout": 1.0}
        opts.update(kwargs)
        return redis.Redis(host="127.0.0.1", port=port, **opts)

    # --- what the cluster looks like ---------------------------------------------------

    def nodes_view(self, port: int | None = None) -> list[dict]:
        """CLUSTER NODES as seen by ``port`` (default: the first live node), parsed."""
        port = port or self._any_live()
        raw = _text(self.node_client(port).execute_command("CLUSTER", "NODES"))
        return [_parse_node_line(line) for line in raw.splitlines() if line.strip()]

    def _any_live(self) -> int:
        for port, proc in self.nodes.items():
            if proc.is_alive():
                return port
        raise ClusterError("no node of the cluster is running; start() it first")

    def masters(self) -> list[dict]:
        """Masters that own slots, as the cluster sees them now (sorted by first slot)."""
        ms = [n for n in self.nodes_view() if "master" in n["flags"] and n["slots"]
              and "fail" not in n["flags"]]
        return sorted(ms, key=lambda n: n["slots"][0][0])

    def replicas_of(self, master_id: str) -> list[dict]:
        """Replicas attached to ``master_id``."""
        return [n for n in self.nodes_view() if n["master_id"] == master_id]

    def slot_owner(self, slot: int) -> dict:
        """The master serving ``slot`` right now."""
        for node in self.masters():
            if any(lo <= slot <= hi for lo, hi in node["slots"]):
                return node
        raise ClusterError(f"no master owns slot {slot}")

    def slot_map(self) -> list[int]:
        """Owner port of every slot (index = slot), from one CLUSTER NODES call."""
        owners = [0] * SLOTS
        for node in self.masters():
            for lo, hi in node["slots"]:
                owners[lo:hi + 1] = [node["port"]] * (hi - lo + 1)
        return owners

    def health(self, replicas: bool = True) -> dict:
        """cluster_state, slot coverage and (if ``replicas``) attached, synced replicas."""
        report = {"nodes": {}, "ok": True, "problems": []}
        for port, proc in self.nodes.items():
            if not proc.is_alive():
                continue
            c = self.node_client(port)
            info = _parse_info(c.execute_command("CLUSTER", "INFO"))
            repl = c.info("replication")
            entry = {"state": info.get("cluster_state"), "slots_ok": int(info.get("cluster_slots_ok", 0)),
                     "role": repl.get("role")}
            if repl.get("role") == "slave":
                entry["link"] = repl.get("master_link_status")
                entry["syncing"] = bool(repl.get("master_sync_in_progress"))
            report["nodes"][port] = entry
            if entry["state"] != "ok" or entry["slots_ok"] != SLOTS:
                report["problems"].append(f"{port}: cluster_state={entry['state']}, "
                                          f"slots_ok={entry['slots_ok']}")
            if entry["role"] == "slave" and (entry["link"] != "up" or entry["syncing"]):
                report["problems"].append(f"{port}: replica link {entry['link']}, "
                                          f"syncing={entry['syncing']}")
        masters = self.masters() if report["nodes"] else []
        live = {p for p, n in self.nodes.items() if n.is_alive()}
        for m in masters:
            if m["port"] not in live:
                report["problems"].append(f"{m['port']}: owns slots but is not running")
            attached = [r for r in self.replicas_of(m["id"]) if r["port"] in live]
            if replicas and len(attached) < self.n_replicas:
                report["problems"].append(f"{m['port']}: {len(attached)} live replica(s), "
                                          f"want {self.n_replicas}")
        if sum(hi - lo + 1 for m in masters for lo, hi in m["slots"]) != SLOTS:
            report["problems"].append("not every slot has a live master")
        report["ok"] = not report["problems"] and bool(report["nodes"])
        return report

    def wait_healthy(self, timeout: float = 60.0, replicas: bool = True) -> dict:
        """Block until :meth:`health` is ok (state ok, 16384 slots, replicas attached and synced)."""
        deadline = time.monotonic() + timeout
        report: dict = {"problems": ["not checked yet"]}
        while time.monotonic() < deadline:
            try:
                report = self.health(replicas)
            except (redis.RedisError, OSError) as exc:
                report = {"ok": False, "problems": [repr(exc)]}
            if report["ok"]:
                return report
            time.sleep(0.1)
        raise ClusterError(f"cluster {self.name!r} not healthy after {timeout:.0f}s: "
                           f"{'; '.join(report['problems'][:4])}. Logs: {self.dir}")

    # --- faults and changes ------------------------------------------------------------

    def kill(self, port: int) -> int:
        """SIGKILL one node (a crash: no goodbye to the cluster); return its old pid."""
        proc = self.nodes[port]
        pid = proc.pid
        proc.kill()
        return pid

    def restart(self, port: int, timeout: float = 30.0) -> RedisProcess:
        """Start a killed node again on the same port and folder; its nodes.conf makes it rejoin."""
        proc = self.nodes[port]
        if proc.is_alive():
            return proc
        proc.proc = None
        proc.start(timeout)
        self._write_state()
        for name, value in self.settings.items():
            self.node_client(port).config_set(name, value)
        return proc

    def configure(self, **settings: str | int) -> None:
        """CONFIG SET on every running node (``cluster_node_timeout=2000`` -> cluster-node-timeout).

        The values are remembered and applied again to a node that :meth:`restart` brings back.
        """
        for key, value in settings.items():
            name = key.replace("_", "-")
            if name == "cluster-node-timeout":
                if not 100 <= int(value) <= 60_000:
                    raise ValueError(f"cluster_node_timeout={value}: use 100..60000 ms")
                self.node_timeout_ms = int(value)
            self.settings[name] = str(value)
            for port, proc in self.nodes.items():
                if proc.is_alive():
                    self.node_client(port).config_set(name, str(value))

    def add_master(self) -> int:
        """Start one more empty master and join it to the cluster; return its port."""
        port = self._join_new_node()
        # A new master reports cluster_state:fail for its first 2 s and until gossip told it
        # who owns every slot; MIGRATE into it would fail with CLUSTERDOWN before that.
        self._wait(lambda: self._state_ok(port), 30, "the new node did not see the cluster as ok")
        return port

    def add_replica(self, master_port: int, timeout: float = 60.0) -> int:
        """Start one more node as a replica of ``master_port``; return once it is in sync."""
        port = self._join_new_node()
        self.node_client(port).execute_command("CLUSTER", "REPLICATE", self.node_id(master_port))
        self.wait_healthy(timeout)
        return port

    def _join_new_node(self) -> int:
        with self._lock():
            proc = self._spawn()
        meet = ["CLUSTER", "MEET", "127.0.0.1", proc.port]
        if self.version >= (7, 0, 0):
            meet.append(self.bus_ports[proc.port])
        self.node_client(self._any_live()).execute_command(*meet)
        self._wait(lambda: all(len(self._known(p)) == len(self.nodes) for p in self.nodes
                               if self.nodes[p].is_alive()), 30, "the new node did not join")
        return proc.port

    def _state_ok(self, port: int) -> bool:
        info = _parse_info(self.node_client(port).execute_command("CLUSTER", "INFO"))
        return info.get("cluster_state") == "ok" and info.get("cluster_slots_ok") == str(SLOTS)

    def node_id(self, port: int) -> str:
        """The cluster node id of ``port``."""
        return _text(self.node_client(port).execute_command("CLUSTER", "MYID"))

    def __repr__(self) -> str:
        alive = sum(p.is_alive() for p in self.nodes.values())
        return (f"<LocalCluster {self.name!r} {alive}/{len(self.nodes)} nodes running, "
                f"node timeout {self.node_timeout_ms} ms, folder {self.dir}>")


@atexit.register
def _stop_all() -> None:
    for cluster in list(_LIVE):
        with contextlib.suppress(Exception):
            cluster.stop()
