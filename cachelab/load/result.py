"""What a load run measured: one row per request, one per database query, and summaries."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

__all__ = ["OUTCOMES", "COLUMNS", "LoadResult"]

#: What a request can report. ``early``: recomputed before expiry (XFetch); ``waited``: got a
#: value someone else computed after waiting for it; ``stale``: served an expired value.
OUTCOMES = ("hit", "miss", "early", "waited", "stale", "error")

COLUMNS = ("t", "start", "latency_ms", "service_ms", "outcome", "key", "pid", "client", "error")


@dataclass
class LoadResult:
    """What a run measured: ``requests`` (one row per request) and ``queries`` (per DB query)."""

    requests: Any  # pandas.DataFrame with columns COLUMNS
    queries: Any   # pandas.DataFrame with columns t (s since start) and pid (who queried)
    t0: float
    duration: float
    config: dict = field(default_factory=dict)

    def summary(self) -> dict:
        """Counts, achieved rate and latency percentiles (ms), as plain Python numbers."""
        df = self.requests
        lat = df["latency_ms"]
        counts = {o: int((df["outcome"] == o).sum()) for o in OUTCOMES}
        span = max(self.duration, 1e-9)
        return {
            "requests": int(len(df)),
            "rate": float(len(df) / span),
            "db_queries": int(len(self.queries)),
            **counts,
            "p50_ms": _q(lat, 0.50), "p95_ms": _q(lat, 0.95), "p99_ms": _q(lat, 0.99),
            "max_ms": float(lat.max()) if len(lat) else math.nan,
            "unfinished": int(self.config.get("unfinished", 0)),
        }

    def timeline(self, bin_s: float = 0.1):
        """Per ``bin_s`` bin: DB queries, requests by outcome, and p50/p99 latency (ms)."""
        import numpy as np
        import pandas as pd

        if not bin_s > 0:
            raise ValueError("bin_s must be positive")
        end = max(self.duration, float(self.requests["t"].max()) if len(self.requests) else 0.0,
                  float(self.queries["t"].max()) if len(self.queries) else 0.0)
        n = int(end // bin_s) + 1
        out = pd.DataFrame({"t": np.arange(n) * bin_s})
        qb = (self.queries["t"] // bin_s).astype(int)
        out["db_queries"] = np.bincount(qb[qb >= 0], minlength=n)[:n]
        rb = (self.requests["t"] // bin_s).astype(int).clip(0, n - 1)
        for o in OUTCOMES:
            out[o] = np.bincount(rb[self.requests["outcome"] == o], minlength=n)[:n]
        grouped = self.requests.groupby(rb)["latency_ms"]
        out["p50_ms"] = grouped.quantile(0.50).reindex(range(n)).to_numpy()
        out["p99_ms"] = grouped.quantile(0.99).reindex(range(n)).to_numpy()
        return out

    def records(self) -> list[dict]:
        """The requests as plain dicts."""
        return self.requests.to_dict("records")


def _span(rows: list[tuple], duration: float | None) -> float:
    """The run's length: its duration bound, else until the last request finished."""
    if duration is not None:
        return duration
    return max([row[1] + row[3] / 1000 for row in rows] + [0.0])


def _q(series, p: float) -> float:
    return float(series.quantile(p)) if len(series) else math.nan


def _query_log(db) -> list[tuple[float, int]]:
    """(time, pid) of every query on ``db``'s file, from the log all processes append to."""
    if db is None:
        return []
    try:
        with open(db.log_path) as fh:
            lines = [line.split() for line in fh]
    except FileNotFoundError:
        return []
    return sorted((float(p[0]), int(p[1]) if len(p) > 1 else 0) for p in lines if p)


def _result(rows: list[tuple], db, t0: float, duration: float, config: dict) -> LoadResult:
    import pandas as pd

    requests = pd.DataFrame(rows, columns=list(COLUMNS))
    if len(requests):
        requests = requests.sort_values("t", kind="stable").reset_index(drop=True)
    log = [(t - t0, pid) for t, pid in _query_log(db) if t >= t0]
    queries = pd.DataFrame(log, columns=["t", "pid"]).astype({"t": float, "pid": int})
    return LoadResult(requests, queries, t0, duration, config)
