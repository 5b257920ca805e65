"""Self-checks for notebook 04 (write-behind)."""

from __future__ import annotations

import random
import uuid

from ..keys import Keys, delete_prefix
from ..selfcheck import expect, run_check
from ..server import connect


def check_1(coalesce) -> str:
    """Exercise 1: from queued records, the rows to write: only the newest version of each id."""
    rng = random.Random(4)
    entries = []
    for uid in range(1, 21):
        for version in range(1, rng.randint(2, 8)):
            entries.append({"id": uid, "version": version, "plan": f"v{version}"})
    rng.shuffle(entries)  # two writers' entries arrive interleaved, not in version order
    rows = coalesce(list(entries))
    expect(isinstance(rows, (list, tuple)), f"return a list of rows, not {type(rows).__name__}")
    ids = [row["id"] for row in rows]
    expect(len(ids) == len(set(ids)), "some id appears twice: one row per id is the whole point")
    expect(set(ids) == set(range(1, 21)), f"ids missing: {sorted(set(range(1, 21)) - set(ids))}")
    newest = {}
    for e in entries:
        newest[e["id"]] = max(newest.get(e["id"], 0), e["version"])
    stale = [row["id"] for row in rows if row["version"] != newest[row["id"]]]
    expect(not stale, f"ids {stale[:5]} keep an older version: the entries arrive out of order, "
           "so compare versions instead of keeping the last one you saw")
    return f"{len(entries)} queued entries become {len(rows)} rows"


def check_2(process_batch) -> str:
    """Exercise 2: read a batch, apply it, and XACK only after the database committed."""
    r = connect()
    keys = Keys("04").child("selfcheck", uuid.uuid4().hex)
    stream, group, consumer = keys("stream"), "writers", "me"
    try:
        r.xgroup_create(stream, group, id="0", mkstream=True)
        for i in range(10):
            r.xadd(stream, {"id": i, "plan": "pro"})

        def database_down(entries):
            raise RuntimeError("database unavailable")

        try:
            process_batch(r, stream, group, consumer, database_down)
        except RuntimeError:
            pass  # letting the error out is fine; swallowing it is fine too
        pending = r.xpending(stream, group)["pending"]
        expect(pending == 10, f"after a failed database write only {pending} of 10 entries are "
               "still pending: you acknowledged writes the database never got, so they are lost")
        for i in range(10, 15):
            r.xadd(stream, {"id": i, "plan": "team"})
        applied = []
        n = process_batch(r, stream, group, consumer, lambda entries: applied.extend(entries))
        expect(len(applied) == 5, f"apply() received {len(applied)} entries, expected the 5 new ones")
        expect(n == 5, f"return how many entries you processed (5), not {n!r}")
        pending = r.xpending(stream, group)["pending"]
        expect(pending == 10, f"{pending} entries pending; the 5 applied ones must be acknowledged "
               "and the 10 failed ones left for another worker")
    finally:
        delete_prefix(r, keys)
    return "acknowledged only what the database has; the failed batch stays pending"


CHECKS = {1: check_1, 2: check_2}


def check(n: int, answer) -> bool:
    """Run exercise ``n``'s self-check on ``answer`` and show the verdict."""
    return run_check(CHECKS[n], answer)
