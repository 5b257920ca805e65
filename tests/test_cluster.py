"""cachelab.cluster against a real local Redis Cluster (3 masters + 3 replicas, redis-server processes)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid

import pytest
import redis
from redis.exceptions import ClusterCrossSlotError, RedisClusterException

from cachelab import Keys
from cachelab.cluster import (
    SLOTS,
    ClusterError,
    LocalCluster,
    crc16,
    hash_tag,
    key_slot,
    reap,
    tagged,
)
from cachelab.cluster._util import _pid_alive
from cachelab.cluster.failover import keys_in_slots, spec_window
from cachelab.cluster.patterns import (
    bus_messages,
    read_user,
    read_users,
    save_with_version,
    update_user,
)
from cachelab.cluster.redirects import HandRouter, server_redirects
from cachelab.cluster.replicas import replica_pair, stale_reads
from cachelab.cluster.resharding import (
    begin_migration,
    finish_migration,
    migrate_keys,
    rebalance_onto,
)
from cachelab.cluster.sharding import (
    ConsistentHashRing,
    ModuloSharding,
    ShardedCache,
    moved_fraction,
    placement,
)
from cachelab.flavor import binary_identity

from .waiting import until

pytestmark = pytest.mark.slow


def _name(what: str) -> str:
    return f"test-{what}-{uuid.uuid4().hex[:6]}"


@pytest.fixture(scope="module")
def cluster_base(tmp_path_factory):
    """Where this module's clusters keep their folders (not the learner's .cachelab/)."""
    return tmp_path_factory.mktemp("clusters")


def _cluster(base, what: str, **kwargs) -> LocalCluster:
    name = _name(what)
    return LocalCluster(name, base=base / name, **kwargs)


@pytest.fixture(scope="module")
def cluster(cluster_base):
    c = _cluster(cluster_base, "shared")
    c.start()
    pids = [p.pid for p in c.nodes.values()]
    yield c
    c.stop()
    # The processes must not outlive the tests.
    assert not [pid for pid in pids if _pid_alive(pid)]


@pytest.fixture
def rc(cluster):
    client = cluster.client()
    yield client
    client.close()


@pytest.fixture
def ck():
    """A key builder for keys that live on the test cluster (the cluster is thrown away)."""
    return Keys("test").child("cluster", uuid.uuid4().hex[:8])


# --- slots ---------------------------------------------------------------------------------

def test_crc16_is_the_xmodem_variant_the_spec_names():
    assert crc16(b"123456789") == 0x31C3  # the check value in the cluster specification


def test_key_slot_agrees_with_redis_py_and_the_server(cluster):
    from redis.crc import key_slot as redis_py_slot

    samples = ["user:42", "{user:42}:profile", "a{}b", "{}", "{a}{b}", "x{y", "é", "", "}{x}"]
    samples += [f"cachelab:13:user:{i}" for i in range(200)]
    node = cluster.node_client(cluster.ports[0])
    for key in samples:
        assert key_slot(key) == redis_py_slot(key.encode())
    for key in samples[:40]:
        assert key_slot(key) == node.execute_command("CLUSTER", "KEYSLOT", key)


def test_hash_tags_put_one_users_keys_in_one_slot():
    keys = Keys("13")
    user = tagged(keys, "user", 42)
    assert user("profile") == "cachelab:13:{user:42}:profile"
    assert {key_slot(user(x)) for x in ("profile", "orders", "session", "cart")} == {key_slot("user:42")}
    # Different users still spread out.
    assert len({key_slot(tagged(keys, "user", i)("profile")) for i in range(500)}) > 450
    # An id with braces cannot end the tag early and merge two users.
    odd = tagged(keys, "user", "a}b")
    assert hash_tag(odd("x")) == b"user:a%7Db"
    assert key_slot(odd("x")) != key_slot(tagged(keys, "user", "a")("x"))


def test_bad_input_gets_clear_errors():
    with pytest.raises(TypeError, match="str or bytes"):
        key_slot(42)
    with pytest.raises(ValueError, match="at least one part"):
        tagged(Keys("13"))
    with pytest.raises(TypeError):
        tagged(Keys("13"), None)
    with pytest.raises(ValueError, match="at least 3 masters"):
        LocalCluster(_name("x"), masters=2)
    with pytest.raises(ValueError, match="node_timeout_ms"):
        LocalCluster(_name("x"), node_timeout_ms=5)
    with pytest.raises(LookupError, match="empty"):
        ConsistentHashRing().node_for("k")
    with pytest.raises(ValueError):
        ConsistentHashRing(vnodes=0)


# --- start, serve, stop ----------------------------------------------------------------------

def test_cluster_is_healthy_with_three_masters_each_with_a_synced_replica(cluster):
    report = cluster.health()
    assert report["ok"], report["problems"]
    masters = cluster.masters()
    assert len(masters) == 3
    assert sum(hi - lo + 1 for m in masters for lo, hi in m["slots"]) == SLOTS
    for m in masters:
        assert len(cluster.replicas_of(m["id"])) == 1
    roles = [n["role"] for n in report["nodes"].values()]
    assert roles.count("master") == 3 and roles.count("slave") == 3
    assert all(n["link"] == "up" and not n["syncing"] for n in report["nodes"].values()
               if n["role"] == "slave")


def test_cluster_serves_keys_on_every_master(cluster, rc, ck):
    names = [ck("k", i) for i in range(300)]
    for i, name in enumerate(names):
        rc.set(name, i)
    assert [int(v) for v in rc.mget_nonatomic(names)] == list(range(300))
    owners = cluster.slot_map()
    spread = {}
    for name in names:
        spread[owners[key_slot(name)]] = spread.get(owners[key_slot(name)], 0) + 1
    assert len(spread) == 3 and min(spread.values()) > 50  # CRC16 spreads keys evenly


def test_ports_are_loopback_only_and_node_timeout_is_set(cluster):
    for port in cluster.ports:
        c = cluster.node_client(port)
        assert c.config_get("bind")["bind"] == "127.0.0.1"
        assert c.config_get("cluster-node-timeout")["cluster-node-timeout"] == str(cluster.node_timeout_ms)
        assert str(cluster.dir) in c.config_get("dir")["dir"]


def test_stop_ends_every_process_and_a_second_stop_is_harmless(cluster_base):
    c = _cluster(cluster_base, "stop").start()
    pids = [p.pid for p in c.nodes.values()]
    ports = c.ports
    c.stop()
    c.stop()
    assert not [pid for pid in pids if _pid_alive(pid)]
    for port in ports:
        with pytest.raises(redis.ConnectionError):
            redis.Redis(port=port, socket_connect_timeout=0.5).ping()
    assert not list(c.dir.glob("*/redis.pid"))


def test_starting_the_same_cluster_again_in_one_process_replaces_the_old_one(cluster_base):
    name = _name("again")
    first = LocalCluster(name, base=cluster_base / name).start()
    assert first.start() is first and len(first.nodes) == 6  # a second start() is a no-op
    old = [p.pid for p in first.nodes.values()]
    second = LocalCluster(name, base=cluster_base / name).start()  # e.g. a re-run setup cell
    try:
        assert not [pid for pid in old if _pid_alive(pid)]
        assert second.health()["ok"]
    finally:
        second.stop()
        first.stop()


def test_a_cluster_owned_by_another_live_process_is_not_taken_over(tmp_path):
    c = LocalCluster(_name("owned"), base=tmp_path / "owned")
    c.dir.mkdir(parents=True)
    (c.dir / "cluster.json").write_text(json.dumps({"owner_pid": os.getppid()}))
    with pytest.raises(ClusterError, match="in use by process"):
        c.start()


CRASHER = """
import sys, time
from cachelab.cluster import LocalCluster
LocalCluster(sys.argv[1], base=sys.argv[2]).start()
print("ready", flush=True)
time.sleep(600)
"""


def test_python_killed_midway_then_a_later_run_reaps_and_starts(tmp_path):
    name, base = _name("crash"), tmp_path / "crash"
    script = tmp_path / "crasher.py"
    script.write_text(CRASHER)
    proc = subprocess.Popen([sys.executable, str(script), name, str(base)], stdout=subprocess.PIPE,
                            text=True)
    later = None
    try:
        assert proc.stdout.readline().strip() == "ready"
        state_dir = base
        orphans = [int(p.read_text()) for p in state_dir.glob("*/redis.pid")]
        assert len(orphans) == 6
        os.kill(proc.pid, signal.SIGKILL)  # no atexit, no finally: the worst case
        proc.wait(timeout=10)
        assert all(_pid_alive(pid) for pid in orphans)  # this is why pidfiles are needed
        later = LocalCluster(name, base=base).start()
        assert not [pid for pid in orphans if _pid_alive(pid)]
        rc = later.client()
        rc.set("after-crash", "ok")
        assert rc.get("after-crash") == b"ok"
        rc.close()
    finally:
        if proc.poll() is None:
            proc.kill()
        if later is not None:
            later.stop()
        reap(base=base)


# --- multi-key operations ----------------------------------------------------------------------

def test_crossslot_is_raised_and_a_hash_tag_fixes_it(cluster, rc, ck):
    a, b = ck("user", 1), ck("user", 2)
    assert key_slot(a) != key_slot(b)
    rc.set(a, 1)
    rc.set(b, 2)
    node = cluster.node_client(cluster.slot_owner(key_slot(a))["port"])
    with pytest.raises(ClusterCrossSlotError):  # the server's CROSSSLOT reply
        node.mget(a, b)
    with pytest.raises(RedisClusterException, match="same key slot"):  # redis-py refuses first
        rc.mget(a, b)
    user = tagged(ck, "user", 1)
    rc.set(user("profile"), "p")
    rc.set(user("orders"), "o")
    assert rc.mget(user("profile"), user("orders")) == [b"p", b"o"]
    pipe = rc.pipeline(transaction=True)
    pipe.set(user("profile"), "p2").append(user("orders"), "+")
    assert pipe.execute()[1] == 2
    assert rc.mget_nonatomic([a, b]) == [b"1", b"2"]  # the other fix: split per slot, not atomic


def test_lua_needs_its_keys_in_one_slot(rc, ck, db):
    row = db.get_user(1)
    assert save_with_version(rc, ck, 1, row) == 1
    assert save_with_version(rc, ck, 1, row) == 2
    with pytest.raises(RedisClusterException, match="same key slot"):
        rc.eval("return redis.call('GET', KEYS[1])", 2, ck("user", 1), ck("user", 2))


def test_cache_aside_runs_unchanged_on_a_cluster(r, keys, rc, ck, db):
    for client, k in ((r, keys), (rc, ck)):
        db.reset_counters()
        assert read_user(client, k, db, 7)[1] == "miss"
        assert read_user(client, k, db, 7)[1] == "hit"
        assert db.query_count == 1
        update_user(client, k, db, 7, plan="pro")
        row, outcome = read_user(client, k, db, 7)
        assert outcome == "miss" and row["plan"] == "pro"
        assert read_user(client, k, db, 123456)[0] is None  # missing rows cached as null
        assert read_user(client, k, db, 123456)[1] == "hit"
    users = read_users(rc, ck, db, list(range(1, 40)))
    assert sorted(users) == list(range(1, 40)) and users[5]["id"] == 5


def test_publish_is_broadcast_to_every_node_spublish_stays_in_the_shard(cluster, rc):
    if cluster.version < (7, 0, 0):
        pytest.skip("sharded pub/sub (SPUBLISH) needs Redis >= 7.0; this cluster runs "
                    + ".".join(map(str, cluster.version)))
    if binary_identity(cluster.binary)[0] == "valkey":
        pytest.skip("Valkey sends pub/sub over the cluster bus as 'light' messages that CLUSTER "
                    "INFO does not count as sent, so the bus cost cannot be measured this way")
    before = bus_messages(cluster)
    for _ in range(10):
        rc.publish("cachelab:test:inv", "x")
    mid = bus_messages(cluster)
    for _ in range(10):
        rc.spublish("cachelab:test:inv", "x")
    after = bus_messages(cluster)
    assert mid["publish"] - before["publish"] == 10 * (len(cluster.nodes) - 1)
    assert after["publishshard"] - mid["publishshard"] == 10 * cluster.n_replicas


# --- redirects ---------------------------------------------------------------------------------

def test_redirects_counted_by_the_client_match_the_servers_count(cluster, rc, ck):
    names = [ck("r", i) for i in range(300)]
    for name in names:
        rc.set(name, 1)
    owners = cluster.slot_map()
    entry = cluster.masters()[0]["port"]
    foreign = sum(owners[key_slot(n)] != entry for n in names)
    before = server_redirects(cluster)
    none = HandRouter(cluster, "none", entry)
    assert [none.get(n) for n in names] == [b"1"] * 300
    assert none.counts["moved"] == foreign
    assert server_redirects(cluster)["MOVED"] - before["MOVED"] == foreign
    learn = HandRouter(cluster, "learn", entry)
    for n in names:
        learn.get(n)
    first = learn.counts["moved"]
    for n in names:
        learn.get(n)
    assert learn.counts["moved"] == first  # second pass: every slot already learnt
    full = HandRouter(cluster, "full", entry)
    for n in names:
        full.get(n)
    assert full.counts["moved"] == 0 and full.counts["round_trips"] == 300 + 1


def test_half_migrated_slot_answers_with_ask_then_moved(cluster, rc, ck):
    user = tagged(ck, "user", "migrating")
    names = [user("k", i) for i in range(20)]
    for n in names:
        rc.set(n, "v")
    slot = key_slot(names[0])
    src = cluster.slot_owner(slot)["port"]
    dst = next(m["port"] for m in cluster.masters() if m["port"] != src)
    assert begin_migration(cluster, slot, dst) == src
    assert migrate_keys(cluster, slot, src, dst, limit=8) == 8
    router = HandRouter(cluster, "full")
    assert [router.get(n) for n in names] == [b"v"] * 20
    assert router.counts["ask"] == 8 and router.counts["moved"] == 0
    assert rc.get(names[0]) == b"v"  # RedisCluster follows ASK itself
    finish_migration(cluster, slot, src, dst)
    router.counts.clear()
    assert [router.get(n) for n in names] == [b"v"] * 20
    assert router.counts["moved"] == 1  # stale map: one MOVED, then the slot is learnt
    assert cluster.slot_owner(slot)["port"] == dst


# --- replicas ----------------------------------------------------------------------------------

def test_replica_reads_need_readonly_and_wait_gives_read_your_writes(cluster, ck):
    plain = stale_reads(cluster, ck, 50, readonly=False)
    assert plain["redirected"] == 50  # a replica sends reads to its master unless READONLY
    waited = stale_reads(cluster, ck, 300, wait=True)
    assert waited["wait_acked"] == 300 and waited["stale"] == 0


def test_a_stalled_replica_serves_stale_reads_and_wait_says_so(cluster, ck):
    master, replica = replica_pair(cluster, 1)
    key = keys_in_slots(ck, master["slots"], 1)[0]
    writer = cluster.node_client(master["port"], single_connection_client=True)
    reader = cluster.node_client(replica["port"], single_connection_client=True)
    reader.execute_command("READONLY")
    writer.set(key, "old")
    assert writer.execute_command("WAIT", 1, 2000) == 1
    # CLIENT PAUSE WRITE on the replica also holds back the replication stream it applies.
    cluster.node_client(replica["port"]).execute_command("CLIENT", "PAUSE", 3000, "WRITE")
    writer.set(key, "new")
    assert writer.execute_command("WAIT", 1, 200) == 0  # not on the replica yet, and we know it
    assert reader.get(key) == b"old"  # the stale read
    assert until(lambda: reader.get(key) == b"new", 10.0, 0.05)  # caught up after the pause


# --- client-side sharding ----------------------------------------------------------------------

def test_consistent_hashing_moves_about_one_nth_modulo_moves_most():
    names = [f"user:{i}" for i in range(20000)]
    for n in (3, 4, 8):
        nodes = [f"node{i}" for i in range(n)]
        ring, mod = ConsistentHashRing(nodes), ModuloSharding(nodes)
        before_ring, before_mod = placement(ring, names), placement(mod, names)
        ring.add("new")
        mod.add("new")
        ring_moved = moved_fraction(before_ring, placement(ring, names))
        mod_moved = moved_fraction(before_mod, placement(mod, names))
        expected = 1 / (n + 1)
        assert 0.6 * expected < ring_moved < 1.4 * expected, (n, ring_moved)
        assert mod_moved > 0.7, (n, mod_moved)
        # Only keys that went to the new node moved.
        after = placement(ring, names)
        assert all(after[k] == "new" for k in names if after[k] != before_ring[k])


def test_sharded_cache_keeps_most_hits_with_a_ring_and_few_with_modulo(redis_factory):
    servers = {f"s{i}": redis_factory().client() for i in range(4)}
    names = [f"cachelab:test:shard:{i}" for i in range(3000)]
    hits = {}
    for kind, router in (("ring", ConsistentHashRing(["s0", "s1", "s2"])),
                         ("modulo", ModuloSharding(["s0", "s1", "s2"]))):
        for c in servers.values():
            c.flushdb()  # private servers of this test only
        cache = ShardedCache(servers, router)
        cache.set_many({n: 1 for n in names})
        router.add("s3")
        cache.get_many(names)
        hits[kind] = cache.counts["hits"] / len(names)
    assert hits["ring"] > 0.6 and hits["modulo"] < 0.4, hits


def test_spec_window_grows_with_the_node_timeout():
    assert spec_window(1000) == (1.5, 3.0)
    lo, hi = spec_window(5000)
    assert lo > 5 and hi > lo


# --- failover (own cluster: it is broken on purpose) --------------------------------------------

def test_failover_keeps_every_write_confirmed_by_wait_and_writes_resume(ck, tmp_path):
    """What Redis guarantees, and only that.

    Replication is asynchronous: a write the master acknowledged may not have reached the
    replica when the master dies, and is then lost. WAIT 1 returning 1 means the replica has
    the write in memory; with one replica per master, that replica is the only candidate for
    promotion, so those writes must survive the crash of their master.
    """
    with _cluster(tmp_path, "failover") as c:
        master, replica = replica_pair(c)
        names = keys_in_slots(ck, master["slots"], 200)
        node = c.node_client(master["port"])
        pipe = node.pipeline(transaction=False)
        for i, name in enumerate(names):
            pipe.set(name, i)
        pipe.execute_command("WAIT", 1, 5000)
        assert pipe.execute()[-1] == 1  # all 200 writes are on the replica
        probe = keys_in_slots(ck.child("probe"), master["slots"], 1)[0]
        c.kill(master["port"])
        rc = c.client(socket_timeout=1.0, socket_connect_timeout=0.5)
        deadline = time.monotonic() + 30  # a liveness bound, not a performance claim
        while True:
            try:
                rc.set(probe, "ok")
                break
            except (redis.RedisError, OSError):
                assert time.monotonic() < deadline, "writes to the dead master's slots never resumed"
                time.sleep(0.05)
        lost = [n for i, n in enumerate(names) if rc.get(n) != str(i).encode()]
        assert lost == []
        assert c.node_client(replica["port"]).info("replication")["role"] == "master"
        c.restart(master["port"])  # rejoins as a replica of its old replica
        c.wait_healthy(60)
        assert master["port"] not in {m["port"] for m in c.masters()}
        rc.close()


# --- resharding (last: it changes the shared cluster) -------------------------------------------

def test_adding_a_master_moves_about_a_quarter_of_the_keys_and_keeps_them_all(cluster, rc, ck):
    names = [ck("grow", i) for i in range(2000)]
    for i in range(0, len(names), 200):
        rc.mset_nonatomic({n: "v" for n in names[i:i + 200]})
    before = cluster.slot_map()
    new = cluster.add_master()
    moved_slots = rebalance_onto(cluster, new)
    after = cluster.slot_map()
    assert len(moved_slots) == SLOTS // 4
    assert sum(1 for p in after if p == new) == SLOTS // 4
    moved = sum(before[key_slot(n)] != after[key_slot(n)] for n in names) / len(names)
    assert 0.18 < moved < 0.32, moved
    assert rc.mget_nonatomic(names) == [b"v"] * len(names)  # the data moved with its slots
