"""The real database: seeding, transactions, the latency knob, the query counter, bad input."""

from __future__ import annotations

import hashlib
import json
import multiprocessing as mp
import threading
import time

import pytest

from cachelab.db import Database


def _digest(db: Database) -> str:
    rows = db.query("SELECT * FROM users ORDER BY id") + db.query("SELECT * FROM orders ORDER BY id")
    return hashlib.sha256(json.dumps(rows, sort_keys=True).encode()).hexdigest()


def test_seeding_is_deterministic(tmp_path):
    a = Database(tmp_path / "a.sqlite", latency_ms=0, seed=7)
    b = Database(tmp_path / "b.sqlite", latency_ms=0, seed=7)
    c = Database(tmp_path / "c.sqlite", latency_ms=0, seed=8)
    assert a.count("users") == 2000 and a.count("orders") == 8000
    assert _digest(a) == _digest(b) != _digest(c)
    a.update_user(1, name="changed")
    a.reseed()
    assert _digest(a) == _digest(b)


def test_transaction_rolls_back_on_error(db):
    before = db.get_user(1)
    with pytest.raises(RuntimeError), db.transaction() as tx:
        tx.query("UPDATE users SET name = 'half-done' WHERE id = 1")
        raise RuntimeError("crash between two statements")
    assert db.get_user(1) == before


def test_transaction_commits(db):
    with db.transaction() as tx:
        tx.query("UPDATE users SET plan = 'team' WHERE id = 2")
        tx.query("UPDATE users SET plan = 'team' WHERE id = 3")
    assert db.get_user(2)["plan"] == db.get_user(3)["plan"] == "team"


def test_update_bumps_version(db):
    v = db.get_user(5)["version"]
    row = db.update_user(5, email="new@example.com")
    assert row["version"] == v + 1 and row["email"] == "new@example.com"
    assert db.update_user(99_999, name="nobody") is None


def test_latency_knob_is_applied(db):
    db.latency_ms = 30
    start = time.perf_counter()
    for i in range(5):
        db.get_user(i + 1)
    elapsed = time.perf_counter() - start
    assert elapsed >= 5 * 0.030  # a lower bound: each query paid its round trip
    with db.latency(0):
        assert db.latency_ms == 0
    assert db.latency_ms == 30


def test_query_counter_is_exact_under_threads(db):
    db.reset_counters()
    barrier = threading.Barrier(8)

    def worker(offset):
        barrier.wait()
        for i in range(250):
            db.get_user(1 + (offset + i) % 200)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert db.query_count == 2000
    assert db.total_query_count() == 2000
    assert len(db.query_times) == 2000


def _worker(db: Database, n: int) -> None:
    for i in range(n):
        db.get_user(1 + i)
    db.update_user(1, plan="pro")


def test_several_processes_share_the_database_and_the_count(db):
    db.reset_counters()
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_worker, args=(db, 40)) for _ in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    assert db.total_query_count() == 3 * 41
    assert db.query_count == 0  # this process made none of them
    assert db.get_user(1)["version"] == 4


@pytest.mark.parametrize("bad, error, words", [
    (lambda d: d.get_user("42"), TypeError, "must be an int"),
    (lambda d: d.get_user(True), TypeError, "must be an int"),
    (lambda d: d.get_user(None), TypeError, "must be an int"),
    (lambda d: setattr(d, "latency_ms", -1), ValueError, "between 0 and"),
    (lambda d: setattr(d, "latency_ms", "20"), TypeError, "milliseconds"),
    (lambda d: d.count("accounts"), ValueError, "unknown table 'accounts'"),
    (lambda d: d.get("users; DROP TABLE users", 1), ValueError, "unknown table"),
    (lambda d: d.update_user(1, password="x"), ValueError, "takes some of"),
])
def test_bad_input_gets_a_clear_error(db, bad, error, words):
    with pytest.raises(error, match=words):
        bad(db)
    assert db.count("users") == 200  # and nothing was harmed
