"""Worked answers for notebook 03's exercises (kept out of the notebook on purpose)."""

import redis

from cachelab import dumps


def solution_1(r, db, keys, user_id, **fields):
    """Commit first; then SET; if the SET fails, DEL; if that fails too, raise."""
    row = db.update_user(user_id, **fields)          # committed: the truth from now on
    key = keys("user", user_id)
    try:
        r.set(key, dumps(row), ex=300)
    except redis.RedisError:
        r.delete(key)                                # raises if Redis is unreachable: told
    return row


_IF_NEWER = """
-- KEYS[1] cache key; ARGV[1] row JSON; ARGV[2] its version; ARGV[3] TTL (s)
-- returns 1 if written, 0 if the key holds the same or a newer version
local cur = redis.call('GET', KEYS[1])
if cur then
  local ok, obj = pcall(cjson.decode, cur)
  if ok and type(obj) == 'table' and tonumber(obj['version'])
     and tonumber(obj['version']) >= tonumber(ARGV[2]) then
    return 0
  end
end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[3])
return 1
"""


def solution_2(r, key, row, ttl):
    """Compare versions and write in one atomic step: a Lua script."""
    return r.eval(_IF_NEWER, 1, key, dumps(row), row["version"], ttl)


# Deliberately wrong answers: the tests make sure each self-check rejects them.
def wrong_1(r, db, keys, user_id, **fields):
    original = db.get_user(user_id)                  # the brief: roll the database back
    row = db.update_user(user_id, **fields)
    try:
        r.set(keys("user", user_id), dumps(row), ex=300)
    except redis.RedisError:
        from cachelab.db import USER_FIELDS
        db.update_user(user_id, **{f: original[f] for f in USER_FIELDS})
        raise
    return row


def wrong_2(r, key, row, ttl):
    r.set(key, dumps(row), ex=ttl)                    # the brief: the last writer wins


SOLUTIONS = {1: solution_1, 2: solution_2}
WRONG = {1: wrong_1, 2: wrong_2}
