"""CACHELAB_MP_START forces multiprocessing's start method, as macOS (spawn) or 3.14 would."""

from __future__ import annotations

import os
import subprocess
import sys

PROBE = "import multiprocessing as mp, cachelab; print(mp.get_start_method())"


def _run(value: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "CACHELAB_MP_START": value}
    return subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True,
                          env=env, timeout=60)


def test_spawn_is_forced_on_import():
    out = _run("spawn")
    assert out.returncode == 0 and out.stdout.strip() == "spawn"


def test_an_unknown_method_is_a_clear_error():
    out = _run("teleport")
    assert out.returncode != 0 and "CACHELAB_MP_START='teleport'" in out.stderr


def test_cross_process_burst_runs_under_forced_spawn(redis_url, db, keys):
    code = ("import sys, cachelab; from cachelab.read_through import burst_across_processes;"
            "from cachelab import Database, Keys;"
            f"db = Database({str(db.path)!r}, latency_ms=50);"
            f"keys = Keys('test').child(*{keys.prefix.split(':')[2:]!r});"
            f"print(burst_across_processes({redis_url!r}, db, keys, processes=2, callers=5))")
    env = {**os.environ, "CACHELAB_MP_START": "spawn"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                         timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "[1, 1]"  # one query per process, as with the default method
