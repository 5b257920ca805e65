"""Plotly figure builders: every chart gets a title and axis titles with units."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import plotly.graph_objects as go

__all__ = ["figure", "line", "bars", "timeline", "latency_histogram", "ladder", "human_ns"]

TEMPLATE = "plotly_white"


def figure(title: str, x_title: str, y_title: str, *, log_x: bool = False, log_y: bool = False,
           widget: bool = False, note: str | None = None) -> go.Figure:
    """An empty figure with the house layout; ``widget=True`` gives a FigureWidget for live updates."""
    for label, text in (("title", title), ("x_title", x_title), ("y_title", y_title)):
        if not text:
            raise ValueError(f"every cachelab chart needs a {label}")
    fig = go.FigureWidget() if widget else go.Figure()
    full_title = title if not note else f"{title}<br><sup>{note}</sup>"
    fig.update_layout(template=TEMPLATE, title=full_title, height=420,
                      legend={"orientation": "h", "y": -0.2},
                      margin={"l": 60, "r": 20, "t": 70, "b": 60})
    fig.update_xaxes(title_text=x_title, type="log" if log_x else None)
    fig.update_yaxes(title_text=y_title, type="log" if log_y else None)
    return fig


def line(series: Mapping[str, tuple[Sequence, Sequence]], title: str, x_title: str, y_title: str,
         **kw) -> go.Figure:
    """One line per entry of ``{name: (xs, ys)}``."""
    fig = figure(title, x_title, y_title, **kw)
    for name, (xs, ys) in series.items():
        fig.add_trace(go.Scatter(x=list(xs), y=list(ys), mode="lines+markers", name=name))
    return fig


def bars(labels: Sequence[str], values: Sequence[float], title: str, x_title: str, y_title: str,
         *, text: Sequence[str] | None = None, **kw) -> go.Figure:
    """A bar chart of ``values`` by ``labels``."""
    fig = figure(title, x_title, y_title, **kw)
    fig.add_trace(go.Bar(x=list(labels), y=list(values), text=list(text) if text else None))
    return fig


def timeline(times: Sequence[float], bin_s: float, title: str, y_title: str, *, name: str,
             start: float | None = None, fig: go.Figure | None = None) -> go.Figure:
    """Count events per ``bin_s`` seconds (e.g. DB queries per 100 ms) as a step line."""
    if bin_s <= 0:
        raise ValueError("bin_s must be positive")
    fig = fig if fig is not None else figure(title, "time since start (s)", y_title)
    t0 = start if start is not None else (min(times) if times else 0.0)
    counts: dict[int, int] = {}
    for t in times:
        b = int((t - t0) // bin_s)
        counts[b] = counts.get(b, 0) + 1
    last = max(counts) if counts else 0
    xs = [b * bin_s for b in range(last + 1)]
    ys = [counts.get(b, 0) for b in range(last + 1)]
    fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines", line_shape="hv", name=name))
    return fig


def latency_histogram(samples_ms: Mapping[str, Sequence[float]], title: str, **kw) -> go.Figure:
    """Overlaid latency distributions, one per entry of ``{name: [ms, ...]}``."""
    fig = figure(title, "latency (ms)", "requests", **kw)
    for name, values in samples_ms.items():
        fig.add_trace(go.Histogram(x=list(values), name=name, opacity=0.6, nbinsx=60))
    fig.update_layout(barmode="overlay")
    return fig


def ladder(rows: Sequence[Mapping], title: str = "Latency ladder: measured here vs the brief",
           **kw) -> go.Figure:
    """Measured and nominal latency per level on a log axis (rows: level, measured_ns, nominal_ns)."""
    fig = figure(title, "level", "latency per access (ns, log scale)", log_y=True, **kw)
    levels = [row["level"] for row in rows]
    fig.add_trace(go.Bar(x=levels, y=[row["measured_ns"] for row in rows], name="measured here",
                         text=[human_ns(row["measured_ns"]) for row in rows],
                         textposition="outside"))
    nominal = [row.get("nominal_ns") for row in rows]
    fig.add_trace(go.Scatter(x=levels, y=nominal, mode="markers", name="brief's nominal figure",
                             marker={"symbol": "diamond", "size": 12}))
    # Long level names: slant them and give them room; the legend goes in the empty top-left
    # corner (the ladder climbs to the right), clear of the labels.
    fig.update_xaxes(tickangle=-30, automargin=True)
    fig.update_layout(height=520, margin={"b": 40},
                      legend={"orientation": "v", "x": 0.01, "y": 0.99, "xanchor": "left",
                              "yanchor": "top", "bgcolor": "rgba(255,255,255,0.8)"})
    return fig


def human_ns(ns: float) -> str:
    """A duration in ns as a short human string: 850 ns, 28 µs, 20.2 ms."""
    for unit, scale in (("s", 1e9), ("ms", 1e6), ("µs", 1e3)):
        if ns >= scale:
            return f"{ns / scale:.3g} {unit}"
    return f"{ns:.3g} ns"
