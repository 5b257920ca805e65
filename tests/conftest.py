"""Shared fixtures: the real Redis server, per-test key prefixes, private servers for faults."""

from __future__ import annotations

import os
import re
import uuid

import pytest

# The whole suite runs in FAST mode (small loads, short sleeps); notebooks run by testbook
# inherit it through the environment.
os.environ.setdefault("CACHELAB_FAST", "1")

from cachelab import Database, Keys, delete_prefix  # noqa: E402
from cachelab.server import RedisProcess, connect, resolve  # noqa: E402

# Under pytest-xdist (`make test` runs two workers with --dist loadfile), a test file is the
# unit of work, so its module-scoped fixtures (an executed notebook, a cluster) are built once.
# The longest files start first so that neither worker is left with a long one at the end
# (from `pytest --durations`; an out-of-date order only costs time, never correctness). The two
# browser files each start a JupyterLab, so they are kept apart in the order.
LONGEST_FIRST = [
    "tests/browser/test_08_", "tests/notebooks/test_08_", "tests/notebooks/test_07_",
    "tests/test_cluster.py", "tests/notebooks/test_12_", "tests/notebooks/test_06_",
    "tests/notebooks/test_10_", "tests/notebooks/test_13_", "tests/browser/test_00_",
    "tests/notebooks/test_05_", "tests/notebooks/test_04_", "tests/notebooks/test_01_",
    "tests/test_stampede.py", "tests/test_exercises.py", "tests/notebooks/test_03_",
    "tests/notebooks/test_09_",
]


def _rank(nodeid: str) -> int:
    return next((i for i, p in enumerate(LONGEST_FIRST) if nodeid.startswith(p)),
                len(LONGEST_FIRST))


def pytest_collection_modifyitems(config, items):
    """The longest files first; inside a file, the file's own order."""
    items.sort(key=lambda item: _rank(item.nodeid))


@pytest.fixture(scope="session")
def redis_url() -> str:
    """URL of the session's Redis (found, or started by cachelab); notebooks inherit it."""
    url = resolve().url
    os.environ["REDIS_URL"] = url
    return url


@pytest.fixture(scope="session")
def r(redis_url):
    """A client of the session's real Redis server."""
    client = connect(redis_url)
    yield client
    client.close()


@pytest.fixture
def keys(r, request) -> Keys:
    """A key builder unique to this test; everything under it is deleted afterwards."""
    name = re.sub(r"[^A-Za-z0-9_]", "_", request.node.name)[:40]
    k = Keys("test").child(name, uuid.uuid4().hex[:8])
    yield k
    delete_prefix(r, k)


@pytest.fixture
def db(tmp_path) -> Database:
    """A small seeded database of this test's own, latency knob off."""
    database = Database(tmp_path / "test.sqlite", latency_ms=0, users=200, orders=600)
    yield database
    database.close()


@pytest.fixture
def redis_factory(tmp_path):
    """Start private redis-server processes (for faults and config changes); all stopped after."""
    started: list[RedisProcess] = []

    def make(*args: str, **kwargs) -> RedisProcess:
        proc = RedisProcess(workdir=tmp_path / f"redis{len(started)}", args=args, **kwargs)
        started.append(proc)
        return proc.start()

    yield make
    for proc in started:
        proc.stop()


@pytest.fixture
def private_redis(redis_factory) -> RedisProcess:
    """One private server this test may stop, kill, pause or reconfigure."""
    return redis_factory()
