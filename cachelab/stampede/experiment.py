"""The stampede experiment: a hot key, a real query behind it, a defence, many clients."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from .. import checks
from ..db import Database
from ..keys import Keys
from ..load import LoadResult, redis_url, run_load
from ..server import connect
from ..ttl import check_ttl
from .registry import DEFENCES, make_defence

__all__ = ["HOT_SQL", "top_customers", "DefenceFactory", "StampedeRun", "run_stampede", "run_peer",
           "bursts", "xfetch_expected_recomputes", "xfetch_claimed_range", "hot_key",
           "summarize", "table", "TABLE_COLUMNS"]

# The hot key's value: a small leaderboard that every page shows, computed by one real query.
HOT_SQL = """
SELECT u.id, u.name, COUNT(*) AS orders, SUM(o.amount_cents) AS total_cents
FROM orders o JOIN users u ON u.id = o.user_id
WHERE o.status != 'refunded'
GROUP BY u.id ORDER BY total_cents DESC, u.id LIMIT 10
"""


def top_customers(db: Database, key: str) -> list[dict]:
    """Recompute the hot key's value: one counted database query."""
    return db.query(HOT_SQL)


def hot_key(keys: Keys) -> str:
    """The key every client asks for."""
    return keys("report", "top-customers")


def xfetch_expected_recomputes(beta: float) -> float:
    """Expected recomputations per expiry for XFetch under steady load: ``e**(1/beta)``.

    The first early recompute starts at a random moment; while it runs (``delta`` seconds)
    others may still draw "recompute". Integrating the rule's hazard over that window gives
    ``e**(1/beta) - 1`` extra on average, whatever the request rate, as long as
    rate x delta x beta is well above 1.
    """
    return math.exp(1 / beta)


def xfetch_claimed_range(beta: float, stretch: float = 1.0) -> tuple[float, float]:
    """The range the notebook claims for the measured mean recomputations per expiry.

    At least one by construction. The theory assumes a recompute stays in flight for the
    ``delta`` stored with the value; if it takes ``k`` times that, the extra draws integrate to
    ``e**(k/beta)``. ``stretch`` is that ``k`` as measured in the run (slowest over fastest
    recompute, see :func:`summarize`): about 1 on a quiet machine, more when the machine
    stalls. The upper bound is three times the theory at that stretch.
    """
    return 1.0, 3 * math.exp(max(stretch, 1.0) / beta)


def bursts(times: Sequence[float], gap: float) -> list[int]:
    """Group event times into bursts separated by more than ``gap`` s; count each burst."""
    counts: list[int] = []
    last = None
    for t in sorted(times):
        if last is None or t - last > gap:
            counts.append(0)
        counts[-1] += 1
        last = t
    return counts


@dataclass(frozen=True)
class DefenceFactory:
    """Builds a defence in whichever process calls it (picklable: a URL and settings only)."""

    defence: str
    url: str
    db: Database
    ttl: float
    options: dict = field(default_factory=dict)
    pool: int = 256

    def __call__(self):
        r = connect(self.url, max_connections=self.pool)
        return make_defence(self.defence, r, partial(top_customers, self.db), self.ttl,
                            **self.options)


@dataclass
class StampedeRun:
    """One run: the load result, DB queries per expiry, and a JSON-friendly summary."""

    load: LoadResult
    per_expiry: list[int]
    summary: dict


def check_run(*, ttl, clients, rate, db_latency_ms, processes, expiries) -> None:
    """Refuse a run's settings before anything is written (a refusal mid-run leaves keys)."""
    check_ttl(ttl)
    checks.count("clients", clients, high=10_000)
    if rate is not None:  # None: closed loop
        checks.positive("rate", rate, high=1e6, hint=" (requests per second, or None)")
    checks.number("db_latency_ms", db_latency_ms, low=0, high=60_000)
    checks.count("processes", processes, high=64)
    checks.count("expiries", expiries, high=1000)


def _options(defence: str, beta: float, extra: dict | None) -> dict:
    options = dict(extra or {})
    if defence in ("xfetch", "brief-probabilistic"):
        options.setdefault("beta", beta)
    return options


def run_stampede(r, db: Database, keys: Keys, defence: str = "none", *, ttl: float = 2.0,
                 clients: int = 100, rate: float | None = 1000.0, db_latency_ms: float = 50.0,
                 beta: float = 1.0, processes: int = 1, expiries: int = 3,
                 options: dict | None = None, progress: bool = False,
                 on_update: Callable[[LoadResult], None] | None = None,
                 seed: int | None = None) -> StampedeRun:
    """Warm the hot key, then send ``rate`` requests/s from ``clients`` clients through
    ``expiries`` expiries of a ``ttl``-second key protected by ``defence``.

    ``rate=None`` runs closed loop: every client sends its next request as soon as the last
    one returns. Every DB query of the run, from every process, is counted per expiry.
    """
    if not isinstance(defence, str) or defence not in DEFENCES:
        raise ValueError(f"unknown defence {defence!r}; choose one of {', '.join(DEFENCES)}")
    check_run(ttl=ttl, clients=clients, rate=rate, db_latency_ms=db_latency_ms,
              processes=processes, expiries=expiries)
    checks.positive("beta", beta, hint=" (1.0 is the paper's default; larger refreshes earlier)")
    opts = _options(defence, beta, options)
    factory = DefenceFactory(defence, redis_url(r), db, ttl, opts,
                             pool=max(16, clients // processes + 16))
    warm = make_defence(defence, r, partial(top_customers, db), ttl, **opts)
    key = hot_key(keys)
    try:
        return _run(r, db, key, factory, warm, [f"{key}:{s}" for s in LOCK_SUFFIXES],
                    {"defence": defence, "ttl": ttl, "clients": clients, "rate": rate,
                     "db_latency_ms": db_latency_ms, "beta": beta, "processes": processes,
                     "expiries": expiries}, progress, on_update, seed)
    finally:
        warm.close()


#: The helper keys the defences keep next to the hot key.
LOCK_SUFFIXES = ("lock", "refresh", "refresher")


def run_peer(r, db: Database, keys: Keys, peer: str, *, ttl: float = 2.0, clients: int = 100,
             rate: float | None = 1000.0, db_latency_ms: float = 50.0, processes: int = 1,
             expiries: int = 3, progress: bool = False, seed: int | None = None) -> StampedeRun:
    """The same workload as :func:`run_stampede`, through a peer library (see ``peers``)."""
    from .peers import peer_factory, peer_keys

    key = hot_key(keys)
    factory = peer_factory(peer, redis_url(r), db, ttl)
    warm = factory()
    try:
        return _run(r, db, key, factory, warm, peer_keys(key),
                    {"defence": peer, "ttl": ttl, "clients": clients, "rate": rate,
                     "db_latency_ms": db_latency_ms, "beta": None, "processes": processes,
                     "expiries": expiries}, progress, None, seed)
    finally:
        close = getattr(warm, "close", None)
        if close is not None:
            close()


def _run(r, db, key, factory, warm, extra_keys, settings, progress, on_update, seed):
    """Warm ``key`` right before the clock starts, run, clean up, count DB queries per expiry."""
    ttl = settings["ttl"]

    def before_start():
        r.delete(key, *extra_keys)
        warm(key)  # fill the cache: the first expiry comes one TTL after the start

    try:
        with db.latency(settings["db_latency_ms"]):
            result = run_load(factory=factory, keys=key, clients=settings["clients"],
                              rate=settings["rate"], duration=settings["expiries"] * ttl + ttl / 2,
                              processes=settings["processes"], db=db, before_start=before_start,
                              on_update=on_update, progress=progress, seed=seed)
    finally:
        r.delete(key, *extra_keys)
    per_expiry = bursts(result.queries["t"].tolist(), gap=ttl / 2)
    return StampedeRun(result, per_expiry, summarize(result, per_expiry, settings))


def _plain(value):
    """NaN is not JSON: the summaries say None instead."""
    return None if isinstance(value, float) and math.isnan(value) else value


def summarize(result: LoadResult, per_expiry: list[int], settings: dict[str, Any]) -> dict:
    """Plain-Python summary of a run (the notebook's tables and the tests read this)."""
    df = result.requests
    s = result.summary()
    waited = df.loc[df["outcome"] == "waited", "latency_ms"]
    # How much recompute times varied (p90 / p10): XFetch's count depends on it.
    recomputes = df.loc[df["outcome"].isin(["miss", "early"]), "latency_ms"]
    stretch = (float(recomputes.quantile(0.9) / recomputes.quantile(0.1))
               if len(recomputes) >= 2 and recomputes.quantile(0.1) > 0 else 1.0)
    out = {
        **settings,
        "requests": s["requests"], "achieved_rate": round(s["rate"], 1),
        **{o: s[o] for o in ("hit", "miss", "early", "waited", "stale", "error")},
        "db_queries": s["db_queries"],
        "bursts": len(per_expiry),
        "per_expiry": per_expiry,
        "queries_per_expiry": (sum(per_expiry) / len(per_expiry)) if per_expiry else 0.0,
        "max_per_expiry": max(per_expiry, default=0),
        "p50_ms": s["p50_ms"], "p99_ms": s["p99_ms"], "max_ms": s["max_ms"],
        "waited_p50_ms": float(waited.quantile(0.5)) if len(waited) else math.nan,
        "waited_p99_ms": float(waited.quantile(0.99)) if len(waited) else math.nan,
        "errors": sorted(set(df.loc[df["error"].notna(), "error"]))[:3],
        "unfinished": s["unfinished"],
        "recompute_stretch": round(stretch, 3),
    }
    return {k: _plain(v) for k, v in out.items()}


#: Columns of the comparison table, in reading order.
TABLE_COLUMNS = ["defence", "processes", "requests", "db_queries", "bursts", "queries_per_expiry",
                 "max_per_expiry", "hit", "miss", "early", "waited", "stale", "error", "p50_ms",
                 "p99_ms", "waited_p50_ms", "waited_p99_ms"]


def table(summaries):
    """A pandas table of run summaries, one row per run, in :data:`TABLE_COLUMNS` order."""
    import pandas as pd

    df = pd.DataFrame(list(summaries))
    return df[[c for c in TABLE_COLUMNS if c in df.columns]].round(2)
