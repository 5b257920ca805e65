"""Worked answers for notebook 11's exercises (kept out of the notebook on purpose)."""

# KEYS[1]: the cached object (a hash)
# ARGV[1]: TTL in milliseconds; ARGV[2..]: field, value, field, value, ...
# Returns 1 if the object was cached and updated, 0 if it was not cached (nothing written).
UPDATE_IF_CACHED = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
for i = 2, #ARGV, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return 1
"""


def solution_1(r, key, fields, ttl):
    """Exists-check, HSET and PEXPIRE in one Lua script: nothing can happen in between."""
    args = [int(ttl * 1000)]
    for field, value in fields.items():
        args += [field, value]
    return bool(r.eval(UPDATE_IF_CACHED, 1, key, *args))


def solution_2(r, mapping, ttl):
    """One pipeline: every SET with its own TTL, sent together, replies read together."""
    pipe = r.pipeline(transaction=False)
    for key, value in mapping.items():
        pipe.set(key, value, ex=ttl)
    pipe.execute()


# Deliberately wrong answers: the tests make sure each self-check rejects them.
def wrong_1(r, key, fields, ttl):
    r.hset(key, mapping=fields)  # the brief: creates a partial object when the user expired
    r.expire(key, ttl)


def wrong_2(r, mapping, ttl):
    for key, value in mapping.items():  # correct result, one round trip per key
        r.set(key, value, ex=ttl)


SOLUTIONS = {1: solution_1, 2: solution_2}
WRONG = {1: wrong_1, 2: wrong_2}
