"""Run a notebook headless with testbook (FAST mode) and hand its `results` dict to the tests."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

from testbook import testbook

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
PLOTLY = "application/vnd.plotly.v1+json"


def _text(title) -> str:
    return (title.get("text") or "") if isinstance(title, dict) else str(title or "")


def chart_problems(nb) -> list[str]:
    """What the house rules find wrong with the notebook's rendered charts.

    Every chart has a title, a one-line note under it (what to notice), a titled y axis for
    each trace and a titled x axis (stacked panels share one).
    """
    problems = []
    for n, cell in enumerate(nb.cells):
        for out in cell.get("outputs", []):
            fig = out.get("data", {}).get(PLOTLY)
            if not fig:
                continue
            layout = fig.get("layout", {})
            title = _text(layout.get("title"))
            where = f"cell {n} chart {title[:40]!r}"
            if not title.strip():
                problems.append(f"cell {n}: a chart without a title")
                continue
            if "<sup>" not in title and "notice" not in title.lower():
                problems.append(f"{where}: no one-line note under the title (what to notice)")
            xs, ys = set(), set()
            for trace in fig.get("data", []):
                if trace.get("type") in ("pie", "table", "indicator", "sankey"):
                    continue
                xs.add("xaxis" + trace.get("xaxis", "x")[1:])
                ys.add("yaxis" + trace.get("yaxis", "y")[1:])
            for axis in sorted(ys):
                if not _text(layout.get(axis, {}).get("title")).strip():
                    problems.append(f"{where}: {axis} has no title")
            if xs and not any(_text(layout.get(a, {}).get("title")).strip() for a in xs):
                problems.append(f"{where}: no x axis title")
    return problems


@contextmanager
def execute(name: str, timeout: int = 900):
    """The executed notebook ``name`` (e.g. '00_start_here') as a testbook client.

    Also checks the house rules for every chart the notebook drew.
    """
    with testbook(NOTEBOOKS / f"{name}.ipynb", execute=True, timeout=timeout) as tb:
        problems = chart_problems(tb.nb)
        assert not problems, "charts break the house rules:\n" + "\n".join(problems)
        yield tb
