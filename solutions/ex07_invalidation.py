"""Worked answers for notebook 07's exercises (kept out of the notebook on purpose)."""

from cachelab.invalidation import MISSING

# KEYS[1]  the tag set
# returns  the number of cached keys that existed and were deleted
INVALIDATE_TAG = """
local members = redis.call('SMEMBERS', KEYS[1])
local deleted = 0
for i = 1, #members, 1000 do
  deleted = deleted + redis.call('DEL', unpack(members, i, math.min(i + 999, #members)))
end
redis.call('DEL', KEYS[1])
return deleted
"""


def solution_1(r, tag_key):
    """One script: members and the set go together, exactly by name."""
    return int(r.eval(INVALIDATE_TAG, 1, tag_key))


def solution_2(local, key, fetch):
    """Take the token before fetching; the fill is refused if an invalidation came meanwhile."""
    value = local.get(key)
    if value is not MISSING:
        return value
    token = local.begin(key)
    value = fetch()
    local.fill(key, value, token)
    return value


# Deliberately wrong answers: the tests make sure each self-check rejects them.
def wrong_1(r, tag_key):
    members = r.smembers(tag_key)
    return r.delete(*members) if members else 0  # leaves the tag set behind, not atomic


def wrong_2(local, key, fetch):
    value = local.get(key)
    if value is not MISSING:
        return value
    value = fetch()
    local.fill(key, value, local.begin(key))  # token taken too late: the race is back
    return value


SOLUTIONS = {1: solution_1, 2: solution_2}
WRONG = {1: wrong_1, 2: wrong_2}
