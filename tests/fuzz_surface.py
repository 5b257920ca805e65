"""The public surface the notebooks call, as (name, kind, call) slots for tests/test_fuzz_api.py.

Each slot feeds one hostile value ``v`` into one argument of one entry point; every other
argument is sensible. ``kind(v)`` says what the documentation promises for ``v``: True (must
work), False (must be refused with a cachelab error) or None (either, as long as it is clean).
Slots marked heavy start a whole run when given a valid value, so only refusals are tried.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass

from .fuzz_kinds import (
    _num,
    any_value,
    count,
    count0,
    folder_name,
    fraction,
    key_text,
    list_item,
    maybe_row,
    maybe_text,
    non_negative,
    open_fraction,
    part,
    positive,
    row_id,
    score,
    small_text,
    text,
    ttl,
    ttl_or_none,
)


@dataclass(frozen=True)
class Slot:
    name: str
    kind: Callable[[object], bool | None]
    call: Callable  # (ctx, v[, obj]) -> result (objects with close() are closed by the runner)
    heavy: bool = False
    setup: Callable | None = None  # (ctx) -> obj built before the snapshot: its writes are allowed
    raw_ok: tuple = ()  # built-in errors the docs promise as they are (a dict's unhashable key)

    def __repr__(self) -> str:
        return self.name


def _compute(key):
    return {"key": key}


def _slots() -> list[Slot]:
    from cachelab import Database, Keys, codec
    from cachelab import keys as keymod
    from cachelab import structures as st
    from cachelab.aside import CacheAside, cached
    from cachelab.breaker import CircuitBreaker
    from cachelab.cluster import LocalCluster, hash_tag, key_slot, tagged
    from cachelab.eviction import WTinyLFU, make, scan_polluted, simulate, zipf
    from cachelab.http import CachePolicy, audit, check_etag, etag_for
    from cachelab.invalidation import (
        LocalCache,
        TagCache,
        VersionedCache,
        adaptive_ttl,
        invalidate_entity,
        run_adaptive,
        run_avalanche,
        run_strategy,
    )
    from cachelab.lru import LinkedLRU, OrderedDictLRU, ThreadSafeLRU
    from cachelab.read_through import ReadThroughCache
    from cachelab.refresh_ahead import RefreshAhead, compare_refresh
    from cachelab.singleflight import SingleFlight
    from cachelab.stampede import RedisLock, backoff, make_defence, run_stampede
    from cachelab.ttl import check_ttl, jitter
    from cachelab.workload import run_workload
    from cachelab.write_behind import MemoryWriteBehind, StreamWriteBehind
    from cachelab.write_through import WriteThrough

    def swb(c):
        return StreamWriteBehind(c.r, c.db, c.keys, check=False)

    def rt(c, **kw):
        return ReadThroughCache(c.r, c.keys, c.db.get_user, entity="user", **kw)

    s = [
        # --- patterns: cache-aside, read-through, write-through, write-behind, refresh-ahead
        Slot("CacheAside(ttl)", ttl, lambda c, v: CacheAside(c.r, c.db, c.keys, ttl=v)),
        Slot("CacheAside(spread)", fraction, lambda c, v: CacheAside(c.r, c.db, c.keys, spread=v)),
        Slot("CacheAside(negative_ttl)", ttl_or_none,
             lambda c, v: CacheAside(c.r, c.db, c.keys, negative_ttl=v)),
        Slot("CacheAside.get(id)", row_id, lambda c, v: CacheAside(c.r, c.db, c.keys).get(v)),
        Slot("CacheAside.update(id)", row_id,
             lambda c, v: CacheAside(c.r, c.db, c.keys).update(v, plan="pro")),
        Slot("CacheAside.update(name=)", text,
             lambda c, v: CacheAside(c.r, c.db, c.keys).update(3, name=v)),
        Slot("CacheAside.create(name)", text,
             lambda c, v: CacheAside(c.r, c.db, c.keys).create(v, f"{uuid.uuid4()}@x.org")),
        Slot("CacheAside.create(user_id=)", lambda v: None if v is None or row_id(v) else False,
             lambda c, v: CacheAside(c.r, c.db, c.keys).create("n", f"{uuid.uuid4()}@x",
                                                                user_id=v)),
        Slot("cached(ttl)", ttl, lambda c, v: cached(key="k:{x}", ttl=v, client=c.r, keys=c.keys)),
        Slot("ReadThroughCache(ttl)", ttl, lambda c, v: rt(c, ttl=v)),
        Slot("ReadThroughCache(entity)", part, lambda c, v: ReadThroughCache(
            c.r, c.keys, c.db.get_user, entity=v).get(4)),
        Slot("ReadThroughCache.get(id)", row_id, lambda c, v: rt(c).get(v)),
        Slot("ReadThroughCache.get_many(ids)", row_id, lambda c, v: rt(c).get_many([1, v])),
        Slot("ReadThroughCache.invalidate(id)", row_id, lambda c, v: rt(c).invalidate(v)),
        Slot("WriteThrough(ttl)", ttl, lambda c, v: WriteThrough(c.r, c.db, c.keys, ttl=v)),
        Slot("WriteThrough.get(id)", row_id, lambda c, v: WriteThrough(c.r, c.db, c.keys).get(v)),
        Slot("WriteThrough.update(id)", row_id,
             lambda c, v: WriteThrough(c.r, c.db, c.keys).update(v, plan="team")),
        Slot("WriteThrough.update(email=)", small_text,
             lambda c, v: WriteThrough(c.r, c.db, c.keys).update(5, email=v)),
        Slot("MemoryWriteBehind(ttl)", ttl,
             lambda c, v: MemoryWriteBehind(c.r, c.db, c.keys, ttl=v)),
        Slot("MemoryWriteBehind(batch_size)", lambda v: count(v) and (v <= 1000 or False),
             lambda c, v: MemoryWriteBehind(c.r, c.db, c.keys, batch_size=v)),
        Slot("MemoryWriteBehind(flush_interval)", positive,
             lambda c, v: MemoryWriteBehind(c.r, c.db, c.keys, flush_interval=v)),
        Slot("MemoryWriteBehind(max_pending)", lambda v: count(v, 100),
             lambda c, v: MemoryWriteBehind(c.r, c.db, c.keys, max_pending=v)),
        Slot("MemoryWriteBehind(backoff)", non_negative,
             lambda c, v: MemoryWriteBehind(c.r, c.db, c.keys, backoff=v)),
        Slot("MemoryWriteBehind.write(id)", maybe_row,
             lambda c, v: c.closing(MemoryWriteBehind(c.r, c.db, c.keys)).write(v, plan="pro")),
        Slot("MemoryWriteBehind.write(name=)", maybe_text,
             lambda c, v: c.closing(MemoryWriteBehind(c.r, c.db, c.keys)).write(6, name=v)),
        Slot("StreamWriteBehind(ttl)", ttl,
             lambda c, v: StreamWriteBehind(c.r, c.db, c.keys, ttl=v, check=False)),
        # The constructor creates the stream's consumer group (a documented write), so it is
        # built before the snapshot and only the method call is held to "no partial write".
        Slot("StreamWriteBehind.write(id)", maybe_row, lambda c, v, w: w.write(v, plan="pro"),
             setup=swb),
        Slot("StreamWriteBehind.write(name=)", maybe_text, lambda c, v, w: w.write(7, name=v),
             setup=swb),
        Slot("StreamWriteBehind.worker(batch_size)", lambda v: count(v) and (v <= 1000 or False),
             lambda c, v, w: w.worker(batch_size=v), setup=swb),
        Slot("RefreshAhead(ttl)", ttl, lambda c, v: RefreshAhead(c.r, c.db, c.keys, ttl=v)),
        Slot("RefreshAhead(refresh_at)", lambda v: True if v is None else open_fraction(v),
             lambda c, v: RefreshAhead(c.r, c.db, c.keys, refresh_at=v)),
        Slot("RefreshAhead(workers)", lambda v: count(v) and (v <= 64 or None),
             lambda c, v: RefreshAhead(c.r, c.db, c.keys, workers=v)),
        Slot("RefreshAhead.get(id)", row_id,
             lambda c, v: c.closing(RefreshAhead(c.r, c.db, c.keys)).get(v)),
        Slot("SingleFlight.do(timeout)", lambda v: True if v is None else positive(v),
             lambda c, v: SingleFlight().do("k", lambda: 1, timeout=v)),
        Slot("check_ttl", ttl, lambda c, v: check_ttl(v)),
        Slot("jitter(ttl)", lambda v: positive(v) if not _num(v) or v <= 1e9 else None,
             lambda c, v: jitter(v)),
        Slot("jitter(spread)", fraction, lambda c, v: jitter(60, v)),
        Slot("CircuitBreaker(threshold)", count, lambda c, v: CircuitBreaker(threshold=v)),
        Slot("CircuitBreaker(reset_after)", positive, lambda c, v: CircuitBreaker(reset_after=v)),
        Slot("run_workload(rate)", positive, heavy=True, call=lambda c, v: run_workload(
            CacheAside(c.r, c.db, c.keys), c.db, rate=v, duration_s=0.1)),
        Slot("run_workload(threads)", count, heavy=True, call=lambda c, v: run_workload(
            CacheAside(c.r, c.db, c.keys), c.db, threads=v, duration_s=0.1)),
        Slot("run_workload(write_ratio)", lambda v: _num(v) and 0 <= v <= 1, heavy=True,
             call=lambda c, v: run_workload(CacheAside(c.r, c.db, c.keys), c.db,
                                            write_ratio=v, duration_s=0.1)),
        # --- the database and keys the notebooks build on
        Slot("Database(latency_ms)", lambda v: _num(v) and 0 <= v <= 60_000,
             lambda c, v: c.enter(c.db.latency(v))),
        Slot("Database.get_user(id)", row_id, lambda c, v: c.db.get_user(v)),
        Slot("Database.update_user(id)", row_id, lambda c, v: c.db.update_user(v, plan="pro")),
        Slot("Database.get(table)", lambda v: v in ("users", "orders"), lambda c, v: c.db.get(v, 1)),
        Slot("Keys(namespace)", part, lambda c, v: Keys(v)),
        Slot("Keys.child(part)", part, lambda c, v: c.keys.child(v)),
        Slot("Keys.pattern(part)", part, lambda c, v: c.keys.pattern(v)),
        Slot("escape_glob", text, lambda c, v: keymod.escape_glob(v)),
        Slot("delete_prefix(prefix)", lambda v: False if not isinstance(v, str) else None,
             lambda c, v: keymod.delete_prefix(c.r, v)),
        Slot("dumps(value)", any_value, lambda c, v: codec.dumps({"nested": [v]})),
        Slot("loads(data)", lambda v: None if isinstance(v, (str, bytes)) or v is None else False,
             lambda c, v: codec.loads(v)),
        # --- invalidation
        Slot("LocalCache(ttl)", ttl_or_none, lambda c, v: LocalCache(ttl=v)),
        Slot("LocalCache(max_entries)", count, lambda c, v: LocalCache(max_entries=v)),
        Slot("TagCache(ttl)", ttl, lambda c, v: TagCache(c.r, c.keys, ttl=v)),
        Slot("TagCache.set(tag)", part,
             lambda c, v: TagCache(c.r, c.keys).set(("user", 1), {"a": 1}, tags=[v])),
        Slot("TagCache.set(value)", any_value,
             lambda c, v: TagCache(c.r, c.keys).set(("user", 1), {"a": v}, tags=["t"])),
        Slot("TagCache.set(ttl)", ttl_or_none,
             lambda c, v: TagCache(c.r, c.keys).set(("user", 1), 1, tags=["t"], ttl=v)),
        Slot("TagCache.invalidate(tag)", part, lambda c, v: TagCache(c.r, c.keys).invalidate(v)),
        Slot("TagCache.get(part)", part, lambda c, v: TagCache(c.r, c.keys).get(v)),
        Slot("VersionedCache(ttl)", ttl, lambda c, v: VersionedCache(c.r, c.keys, ttl=v)),
        Slot("VersionedCache.set(version)", lambda v: count0(v) if type(v) is int else False,
             lambda c, v: VersionedCache(c.r, c.keys).set(("a",), 1, version=v)),
        Slot("VersionedCache.get(part)", part, lambda c, v: VersionedCache(c.r, c.keys).get(v)),
        Slot("invalidate_entity(id)", part,
             lambda c, v: invalidate_entity(c.r, c.keys, "user", v)),
        Slot("adaptive_ttl(access_count)", lambda v: type(v) is int and v >= 0,
             lambda c, v: adaptive_ttl(v)),
        Slot("run_avalanche(ttl)", ttl, heavy=True,
             call=lambda c, v: run_avalanche(c.r, c.db, c.keys, ttl=v)),
        Slot("run_avalanche(n_keys)", count, heavy=True,
             call=lambda c, v: run_avalanche(c.r, c.db, c.keys, n_keys=v)),
        Slot("run_avalanche(spread)", fraction, heavy=True,
             call=lambda c, v: run_avalanche(c.r, c.db, c.keys, spread=v)),
        Slot("run_adaptive(reads_per_s)", positive, heavy=True,
             call=lambda c, v: run_adaptive(c.r, c.db, c.keys, reads_per_s=v)),
        Slot("run_strategy(workers)", count, heavy=True,
             call=lambda c, v: run_strategy("ttl", c.url, c.db, c.keys, workers=v)),
        Slot("run_strategy(ttl)", ttl, heavy=True,
             call=lambda c, v: run_strategy("ttl", c.url, c.db, c.keys, ttl=v)),
        # --- stampede defences
        *[Slot(f"make_defence({d}, ttl)", ttl,
               lambda c, v, d=d: c.closing(make_defence(d, c.r, _compute, v)))
          for d in ("none", "lock", "xfetch", "swr", "refresh-ahead", "single-flight")],
        Slot("make_defence(lock, lock_ttl)", positive,
             lambda c, v: make_defence("lock", c.r, _compute, 5, lock_ttl=v)),
        Slot("make_defence(lock, wait_timeout)", positive,
             lambda c, v: make_defence("lock", c.r, _compute, 5, wait_timeout=v)),
        Slot("make_defence(xfetch, beta)", positive,
             lambda c, v: make_defence("xfetch", c.r, _compute, 5, beta=v)),
        Slot("make_defence(swr, stale_for)", lambda v: True if v is None else positive(v),
             lambda c, v: c.closing(make_defence("swr", c.r, _compute, 5, stale_for=v))),
        Slot("make_defence(name)", lambda v: None if isinstance(v, str) else False,
             lambda c, v: c.closing(make_defence(v, c.r, _compute, 5))),
        Slot("Defence.get(key)", part,
             lambda c, v: make_defence("lock", c.r, _compute, 5).get(c.keys("stampede", v)
                                                                       if part(v) else v)),
        Slot("RedisLock(ttl)", positive, lambda c, v: RedisLock(c.r, c.keys("lock"), v).acquire()),
        Slot("RedisLock(name)", part, lambda c, v: RedisLock(
            c.r, c.keys("lock", v) if part(v) else v, 5).acquire()),
        Slot("backoff(attempt)", count0, lambda c, v: backoff(v)),
        Slot("backoff(cap)", lambda v: non_negative(v) and (v <= 3600 or False), lambda c, v: backoff(2, cap=v)),
        Slot("run_stampede(ttl)", ttl, heavy=True,
             call=lambda c, v: run_stampede(c.r, c.db, c.keys, "lock", ttl=v)),
        Slot("run_stampede(clients)", count, heavy=True,
             call=lambda c, v: run_stampede(c.r, c.db, c.keys, "lock", clients=v)),
        Slot("run_stampede(rate)", lambda v: True if v is None else positive(v), heavy=True,
             call=lambda c, v: run_stampede(c.r, c.db, c.keys, "lock", rate=v)),
        Slot("run_stampede(db_latency_ms)", non_negative, heavy=True,
             call=lambda c, v: run_stampede(c.r, c.db, c.keys, "lock", db_latency_ms=v)),
        Slot("run_stampede(beta)", positive, heavy=True,
             call=lambda c, v: run_stampede(c.r, c.db, c.keys, "xfetch", beta=v)),
        Slot("run_stampede(processes)", count, heavy=True,
             call=lambda c, v: run_stampede(c.r, c.db, c.keys, "lock", processes=v)),
        Slot("run_stampede(expiries)", count, heavy=True,
             call=lambda c, v: run_stampede(c.r, c.db, c.keys, "lock", expiries=v)),
        Slot("run_stampede(defence)", lambda v: None if isinstance(v, str) else False,
             heavy=True, call=lambda c, v: run_stampede(c.r, c.db, c.keys, v)),
        Slot("compare_refresh(readers)", count, heavy=True,
             call=lambda c, v: compare_refresh(c.r, c.db, c.keys, readers=v)),
        Slot("compare_refresh(refresh_at)", open_fraction, heavy=True,
             call=lambda c, v: compare_refresh(c.r, c.db, c.keys, refresh_at=v)),
        # --- LRU and eviction
        *[Slot(f"{cls.__name__}(capacity)", count, lambda c, v, cls=cls: cls(v))
          for cls in (OrderedDictLRU, LinkedLRU, ThreadSafeLRU)],
        Slot("LinkedLRU.put(key)", lambda v: None, lambda c, v: LinkedLRU(2).put(v, 1),
             raw_ok=(TypeError,)),  # keys are dict keys: the hot path does not re-check hashing
        Slot("make(policy, capacity)", count, lambda c, v: make("LRU", v)),
        Slot("make(name)", lambda v: None if isinstance(v, str) else False,
             lambda c, v: make(v, 10)),
        Slot("WTinyLFU(window)", fraction, lambda c, v: WTinyLFU(100, window=v)),
        Slot("simulate(capacity)", count, lambda c, v: simulate("LRU", [1, 2, 1], v)),
        Slot("zipf(n)", lambda v: count(v) and (v <= 10_000 or None), lambda c, v: zipf(v, 50, 1.0)),
        Slot("zipf(alpha)", lambda v: _num(v) and v >= 0 and (v <= 100 or None),
             lambda c, v: zipf(10, 50, v)),
        Slot("scan_polluted(scan_every)", count, lambda c, v: scan_polluted(
            100, 50, 1.0, scan_every=v, scan_length=5)),
        # --- Redis structures
        Slot("put_object(ttl)", ttl, lambda c, v: st.put_object(c.r, c.keys("obj"), {"a": 1}, v)),
        Slot("put_object(value)", any_value,
             lambda c, v: st.put_object(c.r, c.keys("obj"), {"a": 1, "b": v}, 60)),
        Slot("put_object(key part)", part,
             lambda c, v: st.put_object(c.r, c.keys("obj", v), {"a": 1}, 60)),
        Slot("update_fields(value)", any_value,
             lambda c, v: st.update_fields(c.r, c.keys("obj"), {"a": v})),
        Slot("update_fields(refresh_ttl)", ttl_or_none,
             lambda c, v: st.update_fields(c.r, c.keys("obj"), {"a": 2}, refresh_ttl=v)),
        Slot("put_json(ttl)", ttl, lambda c, v: st.put_json(c.r, c.keys("json"), [1], v)),
        Slot("update_json_field(field)", lambda v: None if isinstance(v, str) else False,
             lambda c, v: st.update_json_field(c.r, c.keys("json"), v, 1)),
        Slot("expire_fields(ttl)", ttl,
             lambda c, v: st.expire_fields(c.r, c.keys("obj"), v, "a")),
        Slot("push_recent(cap)", count,
             lambda c, v: st.push_recent(c.r, c.keys("list"), "x", cap=v, ttl=60)),
        Slot("push_recent(ttl)", ttl,
             lambda c, v: st.push_recent(c.r, c.keys("list"), "x", cap=5, ttl=v)),
        Slot("push_recent(item)", list_item,
             lambda c, v: st.push_recent(c.r, c.keys("list"), v, cap=5, ttl=60)),
        Slot("recent(n)", lambda v: True if v is None else count(v),
             lambda c, v: st.recent(c.r, c.keys("list"), v)),
        Slot("set_tags(tag)", key_text, lambda c, v: st.set_tags(c.r, c.keys("tags"), [v], 60)),
        Slot("set_tags(ttl)", ttl, lambda c, v: st.set_tags(c.r, c.keys("tags"), ["a"], v)),
        Slot("cache_ranking(score)", score,
             lambda c, v: st.cache_ranking(c.r, c.keys("rank"), {"a": v}, 60)),
        Slot("top(n)", count, lambda c, v: st.top(c.r, c.keys("rank"), v)),
        Slot("counter_race(threads)", count, heavy=True,
             call=lambda c, v: st.counter_race(c.r, c.keys("ctr"), threads=v)),
        # --- HTTP
        Slot("CachePolicy(max_age)", lambda v: True if v is None else count0(v),
             lambda c, v: CachePolicy(public=True, max_age=v).headers()),
        Slot("CachePolicy(s_maxage)", lambda v: True if v is None else count0(v),
             lambda c, v: CachePolicy(public=True, s_maxage=v).headers()),
        Slot("CachePolicy(vary)", lambda v: None if isinstance(v, str) else False,
             lambda c, v: CachePolicy(max_age=60, vary=(v,)).headers()),
        Slot("etag_for(body)", lambda v: isinstance(v, bytes) or False, lambda c, v: etag_for(v)),
        Slot("check_etag(tag)", lambda v: None if isinstance(v, str) else False,
             lambda c, v: check_etag(v)),
        Slot("audit(header)", lambda v: None if isinstance(v, str) else False,
             lambda c, v: audit({"Cache-Control": v})),
        Slot("Origin.serve(path)", lambda v: None if isinstance(v, str) else False,
             lambda c, v: c.origin().serve(v, b"body")),
        # --- cluster helpers
        Slot("key_slot(key)", lambda v: isinstance(v, (str, bytes)) or False,
             lambda c, v: key_slot(v)),
        Slot("hash_tag(key)", lambda v: isinstance(v, (str, bytes)) or False,
             lambda c, v: hash_tag(v)),
        Slot("tagged(part)", part, lambda c, v: tagged(c.keys, v)),
        Slot("LocalCluster(name)", folder_name, lambda c, v: LocalCluster(v)),
        Slot("LocalCluster(masters)", lambda v: count(v, 3) and (v <= 50 or None),
             lambda c, v: LocalCluster("fuzz", masters=v)),
        Slot("LocalCluster(replicas)", lambda v: count0(v) and (v <= 10 or False), lambda c, v: LocalCluster("fuzz", replicas=v)),
        Slot("LocalCluster(node_timeout_ms)", lambda v: count(v, 100) and (v <= 60_000 or False),
             lambda c, v: LocalCluster("fuzz", node_timeout_ms=v)),
    ]
    del Database
    return s


SLOTS = _slots()
