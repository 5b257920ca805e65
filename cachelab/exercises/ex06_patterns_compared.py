"""Self-checks for notebook 06 (the patterns compared on one workload)."""

from __future__ import annotations

import math
import uuid

from ..compare import PATTERNS, compare_patterns, db_lag_ms, queue_redis, run_pattern, table
from ..keys import Keys, delete_prefix
from ..selfcheck import expect, run_check, scratch_db
from ..server import connect

# Exercise 1's service: a third of requests are writes, the database is 40 ms away, 50 users.
WORKLOAD = {"write_ratio": 0.3, "latency_ms": 40, "users": 50}


def qualifies(row: dict) -> bool:
    """Exercise 1's requirement: no errors, no stale reads, the DB never seen behind an ack."""
    return row["errors"] == 0 and row["stale_reads"] == 0 and row["db_behind_max_ms"] == 0


def check_1(choose) -> str:
    """Exercise 1: run the workload through every pattern, then pick by the stated rule."""
    r = connect()
    keys = Keys("06").child("selfcheck", uuid.uuid4().hex[:8])
    db = scratch_db(latency_ms=0, users=200, orders=0)
    qr, private = None, None
    calls: list[dict] = []
    seen: list[list[dict]] = []

    def run(*, write_ratio: float, latency_ms: float, users: int, ttl: float = 2) -> list[dict]:
        nonlocal qr, private
        if qr is None:
            qr, private = queue_redis(r, keys)
        calls.append({"write_ratio": write_ratio, "latency_ms": latency_ms, "users": users})
        runs = compare_patterns(qr, db, keys.child(len(calls)), duration_s=1.0, rate=40,
                                threads=4, write_ratio=write_ratio, latency_ms=latency_ms,
                                users=users, ttl=ttl)
        rows = table(runs)
        seen.append(rows)
        return [dict(row) for row in rows]

    try:
        answer = choose(run)
    finally:
        if qr is not None:
            delete_prefix(qr, keys)
        if private is not None:
            private.stop()
        db.close()
    expect(calls, "choose() never called run(...): answer by measuring the workload, not by "
           "guessing")
    last = calls[-1]
    expect(all(math.isclose(last[k], v) for k, v in WORKLOAD.items()),
           f"measure the workload the exercise describes, run(write_ratio=0.3, latency_ms=40, "
           f"users=50); your last run was {last}")
    rows = {row["pattern"]: row for row in seen[-1]}
    expect(answer in rows, f"return a pattern's name as the table spells it (one of "
           f"{', '.join(PATTERNS)}), got {answer!r}")
    best = min((row for row in rows.values() if qualifies(row)), key=lambda row: row["write_p50_ms"])
    mine = rows[answer]
    expect(qualifies(mine) or mine["db_behind_max_ms"] == 0,
           f"{answer} does not qualify: in your run the database was seen "
           f"{mine['db_behind_max_ms']:.0f} ms behind a write that had already been "
           "acknowledged. Other services read the database, so a write must be in it when it "
           "returns (filter on db_behind_max_ms == 0 first)")
    expect(qualifies(mine), f"{answer} does not qualify in your run: stale reads "
           f"{mine['stale_reads']}, errors {mine['errors']}")
    expect(answer == best["pattern"],
           f"{answer} qualifies, but {best['pattern']} wrote faster in your run (write p50 "
           f"{best['write_p50_ms']:.1f} ms against {mine['write_p50_ms']:.1f} ms): of those "
           "that qualify, take the lowest write_p50_ms")
    return (f"{best['pattern']}: the fastest writes (p50 {best['write_p50_ms']:.1f} ms) among the "
            "patterns whose database had every write by the time it was acknowledged")


def _differences(got: list, want: list, tol: float) -> list:
    """(got, want) pairs that differ; a length mismatch is a difference too."""
    if len(got) != len(want):
        return [(f"{len(got)} lags", f"{len(want)} lags (one per ack)")]
    return [(round(g, 1), round(w, 1)) for g, w in zip(got, want, strict=True)
            if not math.isclose(g, w, abs_tol=tol)]


def check_2(db_lag) -> str:
    """Exercise 2: a lag counts only polls that began after the ack and still lacked it."""
    polls = [(1.0, {1: 1, 2: 5}), (2.0, {1: 1, 2: 5}), (3.0, {1: 2, 2: 5})]
    cases = [
        ([(1, 2, 1.5)], [500.0], "acknowledged at t=1.5 s, still missing at the poll of t=2.0, "
                                 "there at t=3.0: the database was seen behind for 500 ms"),
        ([(1, 1, 0.5)], [0.0], "version 1 was in the database before the ack: lag 0"),
        ([(2, 4, 0.5)], [0.0], "the database has a newer version (5) than the ack (4): lag 0"),
        ([(1, 2, 2.5)], [0.0], "the first poll after the ack (t=3.0) has it: lag 0, even though "
                               "the poll at t=2.0, before the ack, did not"),
        ([(1, 2, 0.5)], [1500.0], "missing at t=1.0 and t=2.0: 1500 ms"),
    ]
    for acks, want, why in cases:
        got = list(db_lag(acks, polls))
        expect(not _differences(got, want, 1e-6),
               f"polls {polls}, acks {acks}: expected {want} ms, got {got}. {why}")
    r = connect()
    keys = Keys("06").child("selfcheck", uuid.uuid4().hex[:8])
    db = scratch_db(latency_ms=0, users=50, orders=0)
    try:
        lags = {}
        for name in ("write-through", "write-behind (memory)"):
            run = run_pattern(name, r, db, keys, duration_s=0.8, rate=60, threads=4, users=10,
                              write_ratio=0.5, latency_ms=10, ttl=30, keep_raw=True)
            acks, real_polls = run["series"]["acks"], run["series"]["polls"]
            diffs = _differences(list(db_lag(acks, real_polls)), db_lag_ms(acks, real_polls), 1e-3)
            expect(not diffs, f"on a real {name} run your lags differ from the reference "
                   f"(yours, reference; first differences): {diffs[:3]}")
            want = db_lag_ms(acks, real_polls)
            lags[name] = want
    finally:
        delete_prefix(r, keys)
        db.close()
    return (f"write-through: {sum(x > 0 for x in lags['write-through'])} writes seen behind; "
            f"write-behind: {sum(x > 0 for x in lags['write-behind (memory)'])} of "
            f"{len(lags['write-behind (memory)'])}, up to "
            f"{max(lags['write-behind (memory)'], default=0):.0f} ms")


CHECKS = {1: check_1, 2: check_2}


def check(n: int, answer) -> bool:
    """Run exercise ``n``'s self-check on ``answer`` and show the verdict."""
    return run_check(CHECKS[n], answer)
