"""Worked answers for notebook 04's exercises (kept out of the notebook on purpose)."""


def solution_1(entries):
    """Newest version per id, whatever order the entries arrive in."""
    newest = {}
    for entry in entries:
        have = newest.get(entry["id"])
        if have is None or entry["version"] > have["version"]:
            newest[entry["id"]] = entry
    return list(newest.values())


def solution_2(r, stream, group, consumer, apply):
    """Read, apply (the database commit), and only then acknowledge."""
    reply = r.xreadgroup(group, consumer, {stream: ">"}, count=100)
    entries = reply[0][1] if reply else []
    if not entries:
        return 0
    apply(entries)                                   # raises if the database is down ...
    r.xack(stream, group, *[entry_id for entry_id, _ in entries])  # ... so this never runs then
    return len(entries)


# Deliberately wrong answers: the tests make sure each self-check rejects them.
def wrong_1(entries):
    return list({e["id"]: e for e in entries}.values())  # the last one to arrive wins


def wrong_2(r, stream, group, consumer, apply):
    reply = r.xreadgroup(group, consumer, {stream: ">"}, count=100)
    entries = reply[0][1] if reply else []
    if entries:
        r.xack(stream, group, *[entry_id for entry_id, _ in entries])  # acknowledged too early
        apply(entries)
    return len(entries)


SOLUTIONS = {1: solution_1, 2: solution_2}
WRONG = {1: wrong_1, 2: wrong_2}
