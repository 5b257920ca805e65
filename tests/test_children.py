"""Servers and workers die with the kernel that started them; the registry catches the rest.

A plain Python process stands in for the notebook kernel: it imports cachelab, starts real
children (a private redis-server — one from a worker thread —, nginx in front of the origin,
a write-behind worker process, a small LocalCluster), prints their pids and is SIGKILLed.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap

import pytest

from cachelab import children
from cachelab.http import find_nginx

from .waiting import until

LOAD_ALLOWANCE = 4  # the machine is shared: a few seconds to die, times this

KERNEL = textwrap.dedent("""
    import json, sys, threading, time
    from cachelab import children
    from cachelab.server import RedisProcess
    what = sys.argv[1]
    pids = {}
    if what == "servers":
        pids["redis"] = RedisProcess().start().pid
        box = {}
        t = threading.Thread(target=lambda: box.update(p=RedisProcess().start()))
        t.start(); t.join()  # the thread that forked is gone: the server must still run
        pids["redis from a thread"] = box["p"].pid
        if sys.argv[2] == "nginx":
            from cachelab.http import NginxEdge, Origin
            origin = Origin().start()
            origin.serve("/a", b"x")
            pids["nginx"] = NginxEdge(origin.url).start().proc.pid
        worker = children.popen([sys.executable, "-c", "import time; time.sleep(600)"],
                                what="worker")
        pids["worker"] = worker.pid
    elif what == "cluster":
        from cachelab.cluster import LocalCluster
        cluster = LocalCluster(sys.argv[2], masters=3, replicas=0, base=sys.argv[3]).start()
        pids.update({f"node {p}": n.pid for p, n in cluster.nodes.items()})
    elif what == "untracked-signal":  # as on macOS: no death signal, the registry only
        pids["worker"] = children.popen([sys.executable, "-c", "import time; time.sleep(600)"],
                                        what="worker", sig=0).pid
    alive = {k: p for k, p in pids.items() if children._alive(p)}
    print(json.dumps(alive), flush=True)
    time.sleep(600)
""")


def _kernel(*args: str) -> tuple[subprocess.Popen, dict[str, int]]:
    proc = subprocess.Popen([sys.executable, "-c", KERNEL, *args], stdout=subprocess.PIPE,
                            text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    line = proc.stdout.readline()
    if not line:
        proc.kill()
        pytest.fail(f"the stand-in kernel failed to start its children (exit {proc.wait()})")
    return proc, json.loads(line)


def _sigkill(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    proc.stdout.close()


def _alive(pids: dict[str, int]) -> dict[str, int]:
    return {k: p for k, p in pids.items() if children._alive(p)}


def _cleanup(pids: dict[str, int]) -> None:
    for pid in _alive(pids).values():
        os.kill(pid, signal.SIGKILL)


@pytest.mark.parametrize("edge", ["nginx", "no-nginx"])
def test_children_die_with_a_sigkilled_kernel(edge):
    if edge == "nginx" and find_nginx() is None:
        pytest.skip("nginx is not installed (apt-get install nginx-light)")
    proc, pids = _kernel("servers", edge)
    try:
        assert len(pids) == (4 if edge == "nginx" else 3), pids  # all started and running
        _sigkill(proc)
        assert until(lambda: not _alive(pids), timeout=5 * LOAD_ALLOWANCE), _alive(pids)
        assert not {x["pid"] for x in children.leftovers()} & set(pids.values())
    finally:
        _cleanup(pids)


def test_cluster_nodes_die_with_a_sigkilled_kernel(tmp_path):
    proc, pids = _kernel("cluster", "kill-test", str(tmp_path / "cluster"))
    try:
        assert len(pids) == 3, pids
        _sigkill(proc)
        assert until(lambda: not _alive(pids), timeout=5 * LOAD_ALLOWANCE), _alive(pids)
    finally:
        _cleanup(pids)


def test_the_registry_stops_what_the_death_signal_did_not():
    proc, pids = _kernel("untracked-signal")
    try:
        _sigkill(proc)
        worker = pids["worker"]
        assert children._alive(worker)  # without the signal it outlives its kernel...
        listed = [x["pid"] for x in children.leftovers()]
        assert listed.count(worker) == 1  # ...is listed (cachelab doctor shows this list)...
        stopped = [x["pid"] for x in children.stop_leftovers()]
        assert worker in stopped  # ...and stopped by the sweep
        assert until(lambda: not children._alive(worker), timeout=5 * LOAD_ALLOWANCE)
        assert worker not in [x["pid"] for x in children.leftovers()]
    finally:
        _cleanup(pids)


def test_a_child_of_a_live_process_is_not_a_leftover():
    proc = children.popen([sys.executable, "-c", "import time; time.sleep(600)"], what="t")
    try:
        assert proc.pid not in [x["pid"] for x in children.leftovers()]
    finally:
        proc.kill()
        proc.wait()
        children.untrack(proc.pid)


def test_children_die_with_a_sigkilled_jupyter_kernel():
    # The real thing: a Jupyter kernel runs a cell that starts a server and a worker, and is
    # SIGKILLed while a second cell is still running.
    from jupyter_client import KernelManager

    km = KernelManager(kernel_name="python3")
    km.start_kernel(env={**os.environ, "PYTHONUNBUFFERED": "1"})
    kc = km.client()
    kc.start_channels()
    pids: dict[str, int] = {}
    try:
        kc.wait_for_ready(timeout=120)
        cell = ("import json, os, sys\nfrom cachelab import children\n"
                "from cachelab.server import RedisProcess\n"
                "srv = RedisProcess().start()\n"
                "w = children.popen([sys.executable, '-c', 'import time; time.sleep(600)'],"
                " what='worker')\n"
                "print(json.dumps({'kernel': os.getpid(), 'redis': srv.pid, 'worker': w.pid}))")
        reply = kc.execute_interactive(cell, timeout=120,
                                       output_hook=lambda m: m["msg_type"] == "stream"
                                       and pids.update(json.loads(m["content"]["text"])))
        assert reply["content"]["status"] == "ok" and len(pids) == 3, (reply["content"], pids)
        kc.execute("import time; time.sleep(600)")  # mid-run: the kernel is busy when killed
        kernel = pids.pop("kernel")
        assert _alive(pids) == pids
        os.kill(kernel, signal.SIGKILL)
        assert until(lambda: not _alive(pids), timeout=5 * LOAD_ALLOWANCE), _alive(pids)
    finally:
        _cleanup(pids)
        kc.stop_channels()
        km.shutdown_kernel(now=True)
