"""Pieces every strategy shares: a version-guarded write, an op-counting client, memory sizes."""

from __future__ import annotations

from collections.abc import Iterable

import redis

from ..codec import dumps
from ..metrics import Counters
from ..ttl import check_ttl

__all__ = ["STORE_IF_NEWER", "store_if_newer", "CountingRedis", "memory_of", "server_ops",
           "key_parts"]

# KEYS[1]  the cache key
# ARGV[1]  the row's version (an integer that grows with every database write)
# ARGV[2]  the encoded row (cachelab JSON, with a top-level "version" field)
# ARGV[3]  TTL in milliseconds
# returns  1 if stored, 0 if the cache already holds this version or a newer one
STORE_IF_NEWER = """
local current = redis.call('GET', KEYS[1])
if current then
  local ok, row = pcall(cjson.decode, current)
  if ok and type(row) == 'table' and tonumber(row['version']) and
     tonumber(row['version']) >= tonumber(ARGV[1]) then
    return 0
  end
end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
return 1
"""


def store_if_newer(r: redis.Redis, key: str, row: dict, ttl: float) -> bool:
    """SET ``row`` unless Redis already holds the same or a newer version of it.

    A reader that fetched a row just before a write could otherwise put the old row back
    after the writer refreshed the cache; the version check makes that late write a no-op.
    """
    check_ttl(ttl)
    if not isinstance(row, dict) or isinstance(row.get("version"), bool) or \
            not isinstance(row.get("version"), int):
        raise ValueError("store_if_newer() needs a row dict with an integer 'version' field")
    script = _script(r)
    return bool(script(keys=[key], args=[row["version"], dumps(row), max(1, int(ttl * 1000))]))


def _script(r: redis.Redis):
    # Register once per client: redis-py then calls EVALSHA and falls back to EVAL itself.
    script = getattr(r, "_cachelab_store_if_newer", None)
    if script is None:
        script = r.register_script(STORE_IF_NEWER)
        r._cachelab_store_if_newer = script
    return script


class CountingRedis(redis.Redis):
    """A redis-py client that counts the commands it sends (pipelines count each command)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.ops = Counters()

    def execute_command(self, *args, **options):
        """Count, then send as usual."""
        self.ops.incr(str(args[0]).upper().split()[0])
        return super().execute_command(*args, **options)

    def pipeline(self, transaction: bool = True, shard_hint=None):
        """A pipeline whose commands are counted when executed."""
        pipe = super().pipeline(transaction, shard_hint)
        counters = self.ops
        original = pipe.execute

        def execute(raise_on_error: bool = True):
            for args, _ in pipe.command_stack:
                counters.incr(str(args[0]).upper().split()[0])
            return original(raise_on_error)

        pipe.execute = execute
        return pipe

    @property
    def total_ops(self) -> int:
        """Every command sent so far."""
        return sum(self.ops.snapshot().values())


def memory_of(r: redis.Redis, names: Iterable) -> int:
    """Bytes Redis reports (MEMORY USAGE) for these keys together; missing keys count 0."""
    total = 0
    pipe = r.pipeline(transaction=False)
    batch = 0
    for name in names:
        pipe.memory_usage(name, samples=0)
        batch += 1
        if batch == 500:
            total += sum(x or 0 for x in pipe.execute())
            batch = 0
    if batch:
        total += sum(x or 0 for x in pipe.execute())
    return total


def server_ops(r: redis.Redis) -> int:
    """Commands the server has processed since it started (INFO stats)."""
    return int(r.info("stats")["total_commands_processed"])


def key_parts(parts) -> tuple:
    """``parts`` as a tuple of key parts; a bare str is refused (it would be split into letters)."""
    if isinstance(parts, (str, bytes)) or not isinstance(parts, (tuple, list)):
        raise TypeError(f"pass the key's parts as a tuple, e.g. ('user', 42, 'profile'), "
                        f"not {type(parts).__name__} {parts!r}")
    return tuple(parts)
