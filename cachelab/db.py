"""The real database behind every cache: SQLite, seeded, with a declared latency knob.

Every query pays ``latency_ms`` first. That sleep is the one simulated thing in cachelab:
it stands for the network round trip to a database server, so that what a cache saves is
visible on a laptop. Every query is also counted (per process, and across processes
through an append-only log file), so "DB load" is a measured number.
"""

from __future__ import annotations

import os
import random
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from .checks import CachelabValueError, row_id
from .settings import home

__all__ = ["Database", "TABLES", "USER_FIELDS", "DEFAULT_LATENCY_MS"]

DEFAULT_LATENCY_MS = 20.0
TABLES = ("users", "orders")
USER_FIELDS = ("name", "email", "country", "plan")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    email TEXT NOT NULL UNIQUE,
    country TEXT NOT NULL,
    plan TEXT NOT NULL,
    version INTEGER NOT NULL DEFAULT 1,
    updated_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS orders (
    id INTEGER PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users(id),
    amount_cents INTEGER NOT NULL,
    status TEXT NOT NULL,
    created_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS orders_user ON orders(user_id);
"""

_FIRST = ["Ada", "Alan", "Grace", "Edsger", "Barbara", "Donald", "Frances", "Ken", "Radia",
          "Leslie", "Margaret", "Niklaus", "Tony", "Shafi", "John", "Lynn", "Butler", "Jim"]
_LAST = ["Lovelace", "Turing", "Hopper", "Dijkstra", "Liskov", "Knuth", "Allen", "Thompson",
         "Perlman", "Lamport", "Hamilton", "Wirth", "Hoare", "Goldwasser", "Backus", "Conway"]
_COUNTRIES = ["DE", "FR", "GB", "US", "IN", "BR", "JP", "NG", "PL", "CA"]
_PLANS = ["free", "free", "free", "pro", "team"]
_STATUSES = ["paid", "paid", "paid", "shipped", "refunded"]
_EPOCH = 1_700_000_000.0  # fixed so that seeding is deterministic


def _check_id(value, what: str = "user id") -> int:
    return row_id(value, what)


def _check_table(table: str) -> str:
    if table not in TABLES:
        raise ValueError(f"unknown table {table!r}; cachelab's database has {', '.join(TABLES)}")
    return table


def _check_latency(ms) -> float:
    if isinstance(ms, bool) or not isinstance(ms, (int, float)) or ms != ms:
        raise TypeError(f"latency_ms must be a number of milliseconds, got {ms!r}")
    if ms < 0 or ms > 60_000:
        raise ValueError(f"latency_ms must be between 0 and 60000 ms, got {ms}")
    return float(ms)


class Database:
    """SQLite with seeded ``users`` and ``orders``, a latency knob and a query counter.

    One instance may be shared by many threads (each gets its own connection); other
    processes open their own instance on the same ``path`` (WAL mode, busy timeout).
    """

    def __init__(self, path: str | os.PathLike | None = None, *, name: str = "cachelab",
                 latency_ms: float = DEFAULT_LATENCY_MS, users: int = 2000, orders: int = 8000,
                 seed: int = 42, reset: bool = False):
        self.path = Path(path) if path else home() / "db" / f"{name}.sqlite"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.latency_ms = latency_ms
        self.seed, self.n_users, self.n_orders = seed, users, orders
        self._local = threading.local()
        self._count_lock = threading.Lock()
        self._count = 0
        self._log: list[tuple[float, str]] = []
        self._log_fd: tuple[int, int] | None = None  # (pid, fd): reopened after fork
        if reset:
            self.reseed()
        else:
            self._ensure_seeded()

    # -- the latency knob ---------------------------------------------------------------
    @property
    def latency_ms(self) -> float:
        """Simulated round trip added to every query, in milliseconds."""
        return self._latency_ms

    @latency_ms.setter
    def latency_ms(self, ms: float) -> None:
        self._latency_ms = _check_latency(ms)

    @contextmanager
    def latency(self, ms: float) -> Iterator[Database]:
        """Temporarily use a different latency."""
        old = self.latency_ms
        self.latency_ms = ms
        try:
            yield self
        finally:
            self.latency_ms = old

    # -- connections and counting -------------------------------------------------------
    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None or getattr(self._local, "pid", None) != os.getpid():
            conn = sqlite3.connect(self.path, timeout=30, isolation_level=None,
                                   check_same_thread=False)
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA busy_timeout=30000")
            conn.execute("PRAGMA foreign_keys=ON")
            self._local.conn, self._local.pid = conn, os.getpid()
        return conn

    @property
    def log_path(self) -> Path:
        """Append-only file with one line per query, from every process."""
        return self.path.with_suffix(".queries.log")

    def _count_query(self, sql: str) -> None:
        now = time.time()
        with self._count_lock:
            self._count += 1
            self._log.append((now, sql.split(None, 1)[0].upper()))
            if self._log_fd is None or self._log_fd[0] != os.getpid():
                fd = os.open(self.log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
                self._log_fd = (os.getpid(), fd)
            fd = self._log_fd[1]
        # One short write with O_APPEND is atomic, so lines from processes never interleave.
        os.write(fd, f"{now:.6f} {os.getpid()}\n".encode())

    def _roundtrip(self) -> None:
        if self._latency_ms:
            time.sleep(self._latency_ms / 1000)

    @property
    def query_count(self) -> int:
        """Queries made through this instance (this process)."""
        with self._count_lock:
            return self._count

    @property
    def query_times(self) -> list[float]:
        """Wall-clock time (time.time()) of each query made through this instance."""
        with self._count_lock:
            return [t for t, _ in self._log]

    def query_log(self, since: float = 0.0) -> list[tuple[float, str]]:
        """(time.time(), first SQL word) of each query through this instance since ``since``."""
        with self._count_lock:
            return [(t, verb) for t, verb in self._log if t >= since]

    def total_query_count(self) -> int:
        """Queries made on this database file by every process since the last reset."""
        try:
            with open(self.log_path, "rb") as fh:
                return sum(1 for _ in fh)
        except FileNotFoundError:
            return 0

    def total_query_times(self) -> list[float]:
        """Time of every query on this file, from every process, sorted."""
        try:
            with open(self.log_path) as fh:
                return sorted(float(line.split()[0]) for line in fh if line.strip())
        except FileNotFoundError:
            return []

    def reset_counters(self) -> None:
        """Zero this instance's counter and truncate the shared query log."""
        with self._count_lock:
            self._count = 0
            self._log.clear()
        with open(self.log_path, "w"):
            pass

    # -- raw SQL ------------------------------------------------------------------------
    def query(self, sql: str, params: Sequence = ()) -> list[dict]:
        """Run one statement (one round trip) and return its rows as dicts."""
        self._roundtrip()
        self._count_query(sql)
        rows = self._conn().execute(sql, params).fetchall()
        return [dict(row) for row in rows]

    @contextmanager
    def transaction(self) -> Iterator[Transaction]:
        """BEGIN IMMEDIATE ... COMMIT, or ROLLBACK if the block raises."""
        conn = self._conn()
        self._roundtrip()
        self._count_query("BEGIN")
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield Transaction(self, conn)
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        self._roundtrip()
        self._count_query("COMMIT")
        conn.execute("COMMIT")

    # -- the domain ---------------------------------------------------------------------
    def get_user(self, user_id: int) -> dict | None:
        """The user row, or None if there is no such user."""
        rows = self.query("SELECT * FROM users WHERE id = ?", (_check_id(user_id),))
        return rows[0] if rows else None

    def get_users(self, user_ids: Sequence[int]) -> dict[int, dict]:
        """Several users in one query: {id: row} for the ids that exist."""
        ids = [_check_id(u) for u in user_ids]
        if not ids:
            return {}
        marks = ",".join("?" * len(ids))
        rows = self.query(f"SELECT * FROM users WHERE id IN ({marks})", ids)  # noqa: S608
        return {row["id"]: row for row in rows}

    def update_user(self, user_id: int, **fields) -> dict | None:
        """Change some fields, bump ``version``; return the new row (None if no such user)."""
        _check_id(user_id)
        bad = set(fields) - set(USER_FIELDS)
        if bad or not fields:
            raise ValueError(f"update_user() takes some of {USER_FIELDS}, got {sorted(fields)}")
        sets = ", ".join(f"{f} = ?" for f in fields)
        rows = self.query(
            f"UPDATE users SET {sets}, version = version + 1, updated_at = ? WHERE id = ? "  # noqa: S608
            "RETURNING *",
            [*fields.values(), time.time(), user_id],
        )
        return rows[0] if rows else None

    def insert_user(self, name: str, email: str, country: str = "DE", plan: str = "free",
                    user_id: int | None = None) -> dict:
        """Add a user and return its row."""
        if user_id is not None:
            _check_id(user_id)
        try:
            rows = self.query(
                "INSERT INTO users (id, name, email, country, plan, updated_at) "
                "VALUES (?, ?, ?, ?, ?, ?) RETURNING *",
                (user_id, name, email, country, plan, time.time()),
            )
        except sqlite3.IntegrityError as exc:  # nothing was inserted: the statement failed whole
            column = str(exc).rsplit(".", 1)[-1]
            taken = f"user id {user_id}" if column == "id" else f"{column} {locals()[column]!r}"
            raise CachelabValueError(f"cannot create the user: {taken} is already taken "
                                     f"(the database says: {exc}); pick another or update "
                                     "the existing row") from None
        return rows[0]

    def delete_user(self, user_id: int) -> bool:
        """Delete a user and their orders; True if the user existed."""
        _check_id(user_id)
        with self.transaction() as tx:
            tx.query("DELETE FROM orders WHERE user_id = ?", (user_id,))
            gone = tx.query("DELETE FROM users WHERE id = ? RETURNING id", (user_id,))
        return bool(gone)

    def orders_for(self, user_id: int) -> list[dict]:
        """A user's orders, newest first."""
        return self.query("SELECT * FROM orders WHERE user_id = ? ORDER BY created_at DESC, id DESC",
                          (_check_id(user_id),))

    def get(self, table: str, row_id: int) -> dict | None:
        """One row of ``table`` by primary key."""
        rows = self.query(f"SELECT * FROM {_check_table(table)} WHERE id = ?",  # noqa: S608
                          (_check_id(row_id, "row id"),))
        return rows[0] if rows else None

    def count(self, table: str) -> int:
        """Number of rows in ``table``."""
        return self.query(f"SELECT COUNT(*) AS n FROM {_check_table(table)}")[0]["n"]  # noqa: S608

    # -- seeding ------------------------------------------------------------------------
    def reseed(self) -> None:
        """Drop both tables and seed them again (deterministic for a given seed)."""
        conn = self._conn()
        conn.executescript("DROP TABLE IF EXISTS orders; DROP TABLE IF EXISTS users;")
        self._ensure_seeded()
        self.reset_counters()

    def _ensure_seeded(self) -> None:
        conn = self._conn()
        conn.executescript(_SCHEMA)
        if conn.execute("SELECT COUNT(*) FROM users").fetchone()[0]:
            return
        rng = random.Random(self.seed)
        users = []
        for uid in range(1, self.n_users + 1):
            first, last = rng.choice(_FIRST), rng.choice(_LAST)
            users.append((uid, f"{first} {last}", f"{first}.{last}.{uid}@example.com".lower(),
                          rng.choice(_COUNTRIES), rng.choice(_PLANS), _EPOCH))
        orders = [
            (oid, rng.randint(1, self.n_users), rng.randint(199, 49_999), rng.choice(_STATUSES),
             _EPOCH + rng.randint(0, 90 * 86_400))
            for oid in range(1, self.n_orders + 1)
        ]
        conn.execute("BEGIN IMMEDIATE")
        try:
            if conn.execute("SELECT COUNT(*) FROM users").fetchone()[0] == 0:
                conn.executemany("INSERT INTO users (id, name, email, country, plan, updated_at) "
                                 "VALUES (?, ?, ?, ?, ?, ?)", users)
                conn.executemany("INSERT INTO orders VALUES (?, ?, ?, ?, ?)", orders)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def close(self) -> None:
        """Close this thread's connection and the query log."""
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None
        if self._log_fd is not None and self._log_fd[0] == os.getpid():
            os.close(self._log_fd[1])
        self._log_fd = None

    def __getstate__(self) -> dict:
        # Worker processes get the path and settings, not our connections.
        return {"path": str(self.path), "latency_ms": self._latency_ms, "seed": self.seed,
                "n_users": self.n_users, "n_orders": self.n_orders}

    def __setstate__(self, state: dict) -> None:
        self.__init__(state["path"], latency_ms=state["latency_ms"], seed=state["seed"],
                      users=state["n_users"], orders=state["n_orders"])

    def __repr__(self) -> str:
        return f"<Database {self.path.name} latency={self._latency_ms:g}ms queries={self.query_count}>"


class Transaction:
    """Statements inside :meth:`Database.transaction`; each one is a counted round trip."""

    def __init__(self, db: Database, conn: sqlite3.Connection):
        self._db, self._conn = db, conn

    def query(self, sql: str, params: Sequence = ()) -> list[dict]:
        """Run one statement inside the transaction."""
        self._db._roundtrip()
        self._db._count_query(sql)
        return [dict(row) for row in self._conn.execute(sql, params).fetchall()]
