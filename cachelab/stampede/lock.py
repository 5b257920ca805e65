"""A Redis lock done right: SET NX PX with a random token, compare-and-delete release.

The brief's lock stores "1" and releases with DEL. If the holder is slower than the lock's
TTL, the lock expires, a second caller takes it, and the first caller's DEL then frees the
*second* caller's lock. A random token per holder, checked in the same atomic step as the
delete (a Lua script), makes release a no-op for anyone who no longer holds the lock.
"""

from __future__ import annotations

import math
import random
import secrets

import redis

from .. import checks
from ..ttl import check_ttl

__all__ = ["RedisLock", "LockTimeout", "backoff", "RELEASE_SCRIPT", "EXTEND_SCRIPT",
           "GET_OR_LOCK_SCRIPT"]

# KEYS[1]: the lock key.  ARGV[1]: the caller's token.
# Returns 1 if the lock held that token and is now deleted, 0 otherwise (expired, or someone
# else's). GET and DEL run as one step on the server, so nobody can take the lock in between.
RELEASE_SCRIPT = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
    return redis.call('DEL', KEYS[1])
end
return 0
"""

# KEYS[1]: the lock key.  ARGV[1]: the caller's token.  ARGV[2]: new TTL in milliseconds.
# Returns 1 if the lock held that token and now has the new TTL, 0 otherwise.
EXTEND_SCRIPT = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
    return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""

# KEYS[1]: the cache key.  KEYS[2]: its lock key.  ARGV[1]: the caller's token.
# ARGV[2]: lock TTL in milliseconds.
# Returns {1, value} if the cache holds a value; {2} if it did not and the lock was free and is
# now the caller's; {0} if neither (someone else is recomputing). One round trip per wait, and
# the lock is only ever taken while the value is missing, so no winner recomputes a value that
# is already there. (In Redis Cluster both keys must share a hash slot: use a {hash tag}.)
GET_OR_LOCK_SCRIPT = """
local value = redis.call('GET', KEYS[1])
if value then
    return {1, value}
end
if redis.call('SET', KEYS[2], ARGV[1], 'NX', 'PX', ARGV[2]) then
    return {2}
end
return {0}
"""


class LockTimeout(TimeoutError):
    """Waited until the deadline without getting the lock or a value; nothing was computed."""


def backoff(attempt: int, *, base: float = 0.002, cap: float = 0.05,
            remaining: float | None = None, rng: random.Random | None = None) -> float:
    """Seconds to sleep before retry ``attempt`` (0, 1, ...): "full jitter" exponential backoff.

    A uniform draw from ``[0, min(cap, base * 2**attempt)]`` spreads waiters out so they do
    not wake in lockstep (the brief's fixed 100 ms sleep wakes them together), and the result
    never exceeds ``remaining`` seconds to the caller's deadline.
    """
    checks.count("attempt", attempt, low=0, hint=" (0 for the first retry)")
    checks.number("base", base, low=0, high=3600, hint=" (seconds)")
    checks.number("cap", cap, low=0, high=3600, hint=" (seconds: the longest sleep)")
    if remaining is not None:
        checks.number("remaining", remaining, hint=" (seconds left to the deadline, or None)")
    ceiling = min(cap, base * 2 ** min(attempt, 60))  # min(): 2**huge would overflow a float
    delay = (rng or random).uniform(0, ceiling)
    if remaining is not None:
        delay = min(delay, max(0.0, remaining))
    return delay


def _ms(seconds: float) -> int:
    return max(1, math.ceil(seconds * 1000))


class RedisLock:
    """One holder at a time across threads, processes and machines, for ``ttl`` seconds at most.

    ``acquire()`` is a single attempt (SET key token NX PX ttl); callers decide how to wait.
    ``release()`` and ``extend()`` succeed only while this holder's token is still the value.
    """

    def __init__(self, r: redis.Redis, name: str, ttl: float, *, token: str | None = None):
        if not isinstance(name, str) or not name:
            raise TypeError(f"lock name must be a non-empty str, got {name!r}")
        self.r, self.name, self.ttl = r, name, check_ttl(ttl)
        self.token = token or secrets.token_hex(16)
        self._release = r.register_script(RELEASE_SCRIPT)
        self._extend = r.register_script(EXTEND_SCRIPT)
        self._get_or_lock = r.register_script(GET_OR_LOCK_SCRIPT)

    def acquire(self) -> bool:
        """Try once to take the lock; True if we hold it now."""
        return bool(self.r.set(self.name, self.token, nx=True, px=_ms(self.ttl)))

    def get_or_acquire(self, key: str) -> tuple[int, bytes | None]:
        """One round trip: ``(1, value)`` if ``key`` has a value, ``(2, None)`` if it had none
        and we took the lock, ``(0, None)`` if someone else holds it."""
        reply = self._get_or_lock(keys=[key, self.name], args=[self.token, _ms(self.ttl)])
        return int(reply[0]), (reply[1] if len(reply) > 1 else None)

    def release(self) -> bool:
        """Free the lock if we still hold it; False if it expired or belongs to someone else."""
        return bool(self._release(keys=[self.name], args=[self.token]))

    def extend(self, ttl: float | None = None) -> bool:
        """Reset the lock's TTL (to ``ttl`` or the original) if we still hold it."""
        ms = _ms(check_ttl(ttl) if ttl is not None else self.ttl)
        return bool(self._extend(keys=[self.name], args=[self.token, ms]))

    def held(self) -> bool:
        """True while the lock holds our token."""
        value = self.r.get(self.name)
        if isinstance(value, bytes):
            value = value.decode()
        return value == self.token

    def __repr__(self) -> str:
        return f"<RedisLock {self.name} ttl={self.ttl:g}s token={self.token[:8]}…>"
