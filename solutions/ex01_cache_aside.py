"""Worked answers for notebook 01's exercises (kept out of the notebook on purpose)."""

from cachelab import dumps, loads


def solution_1(r, db, keys, user_id):
    """Cache-aside read; "no such user" is cached as JSON null with a shorter TTL."""
    key = keys("user", user_id)
    cached = r.get(key)
    if cached is not None:
        return loads(cached)          # a row, or None for a cached "no such user"
    row = db.get_user(user_id)
    r.set(key, dumps(row), ex=300 if row is not None else 30)
    return row


def solution_2(r, db, keys, user_id, **fields):
    """The database first (it is the truth), then drop the cached copy."""
    row = db.update_user(user_id, **fields)
    r.delete(keys("user", user_id))
    return row


# Deliberately wrong answers: the tests make sure each self-check rejects them.
def wrong_1(r, db, keys, user_id):
    key = keys("user", user_id)
    cached = r.get(key)
    if cached:
        return loads(cached)
    row = db.get_user(user_id)
    if row:                            # the brief: missing rows are never cached
        r.set(key, dumps(row), ex=300)
    return row


def wrong_2(r, db, keys, user_id, **fields):
    r.delete(keys("user", user_id))    # delete first: a reader can refill the old row
    return db.update_user(user_id, **fields)


SOLUTIONS = {1: solution_1, 2: solution_2}
WRONG = {1: wrong_1, 2: wrong_2}
