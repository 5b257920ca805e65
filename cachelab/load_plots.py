"""A live timeline of a load run: DB queries, requests by outcome and latency, per time bin."""

from __future__ import annotations

import math

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from .load import OUTCOMES, LoadResult
from .plots import TEMPLATE

__all__ = ["timeline_figure", "show_timeline", "OUTCOME_COLOURS"]

OUTCOME_COLOURS = {"hit": "#2ca02c", "miss": "#d62728", "early": "#9467bd", "waited": "#ff7f0e",
                   "stale": "#8c564b", "error": "#000000"}


def timeline_figure(title: str = "Load over time", bin_ms: int = 100, *,
                    note: str | None = None, widget: bool = True) -> go.Figure:
    """Three stacked panels sharing the time axis; :func:`show_timeline` fills them in place."""
    fig = make_subplots(rows=3, cols=1, shared_xaxes=True, vertical_spacing=0.07,
                        subplot_titles=(f"database queries per {bin_ms} ms",
                                        f"requests per {bin_ms} ms, by outcome",
                                        f"latency per {bin_ms} ms bin (p50, p99)"))
    fig.add_trace(go.Scatter(x=[], y=[], mode="lines", line_shape="hv", name="DB queries",
                             line={"color": "#1f77b4"}), row=1, col=1)
    for outcome in OUTCOMES:
        fig.add_trace(go.Bar(x=[], y=[], name=outcome, marker_color=OUTCOME_COLOURS[outcome]),
                      row=2, col=1)
    for name, dash in (("p50", "solid"), ("p99", "dot")):
        fig.add_trace(go.Scatter(x=[], y=[], mode="lines", name=f"{name} latency",
                                 line={"dash": dash, "color": "#444"}), row=3, col=1)
    full = title if not note else f"{title}<br><sup>{note}</sup>"
    fig.update_layout(template=TEMPLATE, title=full, height=720, barmode="stack", bargap=0,
                      legend={"orientation": "h", "y": -0.08},
                      margin={"l": 70, "r": 20, "t": 90, "b": 60})
    fig.update_yaxes(title_text="queries", row=1, col=1)
    fig.update_yaxes(title_text="requests", row=2, col=1)
    fig.update_yaxes(title_text="latency (ms, log)", type="log", row=3, col=1)
    fig.update_xaxes(title_text="time since start (s)", row=3, col=1)
    return go.FigureWidget(fig) if widget else fig


def show_timeline(fig: go.Figure, result: LoadResult, bin_ms: int = 100,
                  title: str | None = None) -> go.Figure:
    """Replace the figure's data with ``result``'s timeline (in place: a widget redraws)."""
    line = result.timeline(bin_ms / 1000)
    xs = line["t"].tolist()

    def clean(values):
        return [None if (v is None or (isinstance(v, float) and math.isnan(v))) else v
                for v in values]

    with fig.batch_update():
        fig.data[0].x, fig.data[0].y = xs, line["db_queries"].tolist()
        for i, outcome in enumerate(OUTCOMES, start=1):
            fig.data[i].x, fig.data[i].y = xs, line[outcome].tolist()
            fig.data[i].width = bin_ms / 1000
            fig.data[i].offset = 0
        n = 1 + len(OUTCOMES)
        fig.data[n].x, fig.data[n].y = xs, clean(line["p50_ms"].tolist())
        fig.data[n + 1].x, fig.data[n + 1].y = xs, clean(line["p99_ms"].tolist())
        if title is not None:
            fig.layout.title.text = title
    return fig
