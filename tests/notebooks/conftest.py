"""Run a notebook headless with testbook (FAST mode) and hand its `results` dict to the tests."""

from __future__ import annotations

import json
import os
import re
import time
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from queue import Empty

from testbook import testbook

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
PLOTLY = "application/vnd.plotly.v1+json"
WIDGET = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
# A cell that runs longer than this must show a progress bar. The workshop-size rule is ~3 s;
# FAST mode runs the same cells smaller, and 5 s leaves room for a slow CI machine.
SLOW_CELL_S = float(os.environ.get("CACHELAB_SLOW_CELL_S", "5"))


def load_allowance() -> float:
    """How many times longer a cell takes now than on an idle machine, at least 1.

    The run queue per core (1-minute load average / cores): with two busy loops on two cores a
    cell gets about half a core, so it takes about twice as long. The slow-cell rule is about
    the cell's work, not about what else the machine is doing.
    """
    try:
        return max(1.0, os.getloadavg()[0] / (os.cpu_count() or 1))
    except OSError:  # no load average on this platform
        return 1.0


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


def _when(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))  # 3.10 does not read "Z"


def _seconds(cell) -> float:
    t = cell.get("metadata", {}).get("execution", {})
    start, end = t.get("iopub.execute_input"), t.get("shell.execute_reply")
    if not (start and end):
        return 0.0
    return (_when(end) - _when(start)).total_seconds()


def _shows_progress(cell, state: dict) -> bool:
    """Whether a cell's outputs hold a progress bar, directly or inside a widget (a panel)."""
    outputs = json.dumps(cell.get("outputs", []))
    if "%|" in outputs:  # tqdm's text form
        return True
    todo = re.findall(r'"model_id": "([0-9a-f]+)"', outputs)
    seen = set()
    while todo:
        mid = todo.pop()
        if mid in seen or mid not in state:
            continue
        seen.add(mid)
        # Saved notebook metadata nests the state; a live client's widget_state does not.
        model = state[mid].get("model_name") or state[mid].get("_model_name")
        if model in ("FloatProgressModel", "IntProgressModel"):
            return True
        inner = json.dumps(state[mid].get("state", state[mid]))
        todo += re.findall(r"IPY_MODEL_([0-9a-f]+)", inner)
        todo += re.findall(r'"model_id": "([0-9a-f]+)"', inner)
    return False


def slow_cells_without_progress(nb, limit: float | None = None, state: dict | None = None
                                ) -> list[str]:
    """Code cells that ran longer than ``limit`` seconds and showed no progress bar.

    ``limit`` defaults to SLOW_CELL_S times the machine's current :func:`load_allowance`.
    ``state`` is the executing client's ``widget_state`` (testbook runs cell by cell and never
    writes it into the notebook's metadata).
    """
    if limit is None:
        limit = SLOW_CELL_S * load_allowance()
    if state is None:
        state = nb.metadata.get("widgets", {}).get(WIDGET_STATE, {}).get("state", {})
    found = []
    for n, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        took = _seconds(cell)
        if took > limit and not _shows_progress(cell, state):
            first = cell.source.strip().splitlines()[0][:60] if cell.source.strip() else ""
            found.append(f"cell {n} ran {took:.1f} s without a progress bar: {first}")
    return found


def poll_in_steps(channel, step: float = 1.0) -> None:
    """Make ``channel.get_msg(timeout)`` poll afresh every ``step`` seconds until ``timeout``.

    One long ``zmq.asyncio`` poll can miss the wake-up for a message that arrived while widget
    traffic was being handled, and then sleeps out its whole timeout with the reply waiting
    (jupyter/nbclient#312: seen here as a cell "hanging" 300 s with its kernel idle, under load,
    in cells with widget panels). A fresh poll sees the pending message at once.
    """
    get_msg = channel.get_msg

    async def polling(timeout: float | None = None):
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            wait = step if deadline is None else max(0.0, min(step, deadline - time.monotonic()))
            try:
                return await get_msg(timeout=wait)
            except Empty:
                if deadline is not None and time.monotonic() >= deadline:
                    raise

    channel.get_msg = polling


@contextmanager
def execute(name: str, timeout: int = 300):
    """The executed notebook ``name`` (e.g. '00_start_here') as a testbook client.

    ``timeout`` bounds each cell (FAST cells take seconds): a stuck cell fails with the cell's
    source in the error instead of holding a worker until pytest-timeout ends the whole test.

    Also checks the house rules for every chart the notebook drew, and that every cell
    that ran longer than a few seconds showed a progress bar.
    """
    # execute=False, then execute() inside the block: a cell that fails inside testbook's
    # __enter__ would leave its kernel running (no __exit__), one per failed notebook.
    with testbook(NOTEBOOKS / f"{name}.ipynb", execute=False, timeout=timeout) as tb:
        poll_in_steps(tb.kc.shell_channel)
        poll_in_steps(tb.kc.iopub_channel)
        tb.execute()
        problems = chart_problems(tb.nb) + slow_cells_without_progress(tb.nb, state=tb.widget_state)
        assert not problems, "cells break the house rules:\n" + "\n".join(problems)
        yield tb
