"""The load generator: bounds, arrival schedule, records, processes, errors and faults."""

from __future__ import annotations

import threading

import pytest

from cachelab import connect
from cachelab.load import OUTCOMES, HotKey, LoadError, RedisGet, Zipf, redis_url, run_load


@pytest.fixture
def getter(r):
    def get(key):
        return "hit" if r.get(key) is not None else "miss"
    return get


def test_count_bound_gives_exactly_that_many_records(r, keys, getter):
    r.set(keys("hot"), "1")
    res = run_load(getter, keys=keys("hot"), clients=20, requests=300)
    df = res.requests
    assert len(df) == 300
    assert list(df.columns) == ["t", "start", "latency_ms", "service_ms", "outcome", "key", "pid",
                                "client", "error"]
    assert set(df["outcome"]) == {"hit"}
    assert df["client"].nunique() > 1  # the work really was spread over clients
    assert (df["latency_ms"] >= df["service_ms"] - 1e-9).all()
    assert res.summary()["requests"] == 300 and res.summary()["hit"] == 300


def test_open_loop_arrivals_follow_the_seeded_schedule(r, keys, getter):
    # Poisson arrivals from a seed: the number scheduled inside the window is fixed by the
    # seed, however slow the machine is (late requests still happen, and count as latency).
    runs = [run_load(getter, keys=keys("k"), clients=10, rate=400, duration=0.5, seed=7)
            for _ in range(2)]
    n = [len(run.requests) for run in runs]
    assert n[0] == n[1]
    assert 120 < n[0] < 280  # mean 200, sd 14
    t = runs[0].requests["t"]
    assert t.is_monotonic_increasing and t.min() >= 0 and t.max() < 0.5


def test_zipf_keys_are_skewed(r, keys, getter):
    names = [keys("z", i) for i in range(50)]
    z = Zipf(names, s=1.2)
    assert abs(sum(z.probabilities()) - 1) < 1e-9
    res = run_load(getter, keys=z, clients=8, requests=3000, seed=1)
    counts = res.requests["key"].value_counts()
    assert counts[names[0]] > counts[names[1]] > counts.get(names[20], 0)


def test_exceptions_and_bad_return_values_are_recorded_as_errors(keys):
    calls = iter(range(10**6))

    def flaky(key):
        n = next(calls)
        if n % 3 == 0:
            raise RuntimeError("boom")
        return "hit" if n % 3 == 1 else 42  # 42 is not an outcome

    res = run_load(flaky, keys=keys("k"), clients=3, requests=30)
    errors = res.requests[res.requests["outcome"] == "error"]["error"]
    assert len(errors) == 20
    assert errors.str.contains("RuntimeError: boom").sum() == 10
    assert errors.str.contains("return one of").sum() == 10


def test_tuple_results_and_db_queries_are_recorded(keys, db):
    def read(key):
        return db.get_user(1), "miss"

    res = run_load(read, keys=keys("u"), clients=4, requests=40, db=db)
    assert set(res.requests["outcome"]) == {"miss"}
    assert len(res.queries) == 40
    line = res.timeline(0.1)
    assert line["db_queries"].sum() == 40 and line["miss"].sum() == 40
    assert {"p50_ms", "p99_ms", *OUTCOMES} <= set(line.columns)


def test_live_updates_and_close(keys, getter):
    seen = []

    class Closing:
        closed = False

        def __call__(self, key):
            return getter(key)

        def close(self):
            Closing.closed = True

    run_load(Closing(), keys=keys("k"), clients=4, rate=200, duration=0.6,
             on_update=lambda partial: seen.append(len(partial.requests)), update_every=0.1)
    assert len(seen) >= 2 and seen == sorted(seen)
    assert Closing.closed


def test_worker_processes_share_the_load(r, keys):
    r.set(keys("hot"), "1")
    res = run_load(factory=RedisGet(redis_url(r)), keys=HotKey(keys("hot")), clients=6,
                   requests=600, processes=3)
    df = res.requests
    assert len(df) == 600 and df["pid"].nunique() == 3
    assert set(df["outcome"]) == {"hit"}


@pytest.mark.parametrize("kwargs, error", [
    ({"clients": 0, "requests": 1}, ValueError),
    ({"clients": "many", "requests": 1}, TypeError),
    ({"clients": 2}, ValueError),                       # no bound: it would never stop
    ({"clients": 2, "rate": -5, "duration": 1}, ValueError),
    ({"clients": 2, "requests": 1, "processes": 2}, ValueError),  # needs factory=
    ({"clients": 1, "requests": 1, "processes": 2, "factory": RedisGet("redis://x")}, ValueError),
])
def test_bad_arguments_are_refused_clearly(getter, kwargs, error):
    kwargs = {"keys": "cachelab:test:k", **kwargs}
    if "factory" not in kwargs:
        kwargs["request"] = getter
    with pytest.raises(error):
        run_load(**kwargs)


def test_bad_keys_are_refused():
    with pytest.raises(TypeError):
        run_load(lambda k: "hit", keys=42, requests=1)
    with pytest.raises(TypeError):
        Zipf([])


def test_a_worker_that_cannot_start_is_reported(keys):
    # The factory fails inside the worker: the run stops with that worker's traceback.
    with pytest.raises(LoadError, match="RedisUnavailable"):
        run_load(factory=RedisGet("redis://127.0.0.1:1/0"), keys=keys("k"), clients=2,
                 requests=10, processes=2)


def test_redis_killed_mid_run_gives_errors_not_a_hang(private_redis, keys):
    client = connect(private_redis.url, socket_timeout=1.0)
    client.set(keys("k"), "1")

    def get(key):
        return "hit" if client.get(key) is not None else "miss"

    killer = threading.Timer(0.4, private_redis.kill)
    killer.start()
    try:
        res = run_load(get, keys=keys("k"), clients=4, rate=200, duration=1.0)
    finally:
        killer.join()
    df = res.requests
    assert (df["outcome"] == "hit").sum() > 0
    assert (df["outcome"] == "error").sum() > 0
    assert df.loc[df["outcome"] == "error", "error"].str.contains("Connection").any()
    assert res.summary()["unfinished"] == 0


def test_redis_url_round_trips_passwords_with_special_characters(private_redis):
    import redis

    client = redis.Redis(host="127.0.0.1", port=private_redis.port, password="p@ss:w/rd%")
    url = redis_url(client)
    assert "p%40ss%3Aw%2Frd%25" in url
    parsed = redis.Redis.from_url(url).connection_pool.connection_kwargs
    assert parsed["password"] == "p@ss:w/rd%" and parsed["port"] == private_redis.port
