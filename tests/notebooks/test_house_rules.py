"""The house-rule checks every notebook test applies: they catch what they claim to catch."""

import nbformat
from testbook import testbook

from .conftest import chart_problems, slow_cells_without_progress


def _notebook(tmp_path, *sources):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(s) for s in sources]
    path = tmp_path / "rules.ipynb"
    nbformat.write(nb, path)
    return path


def test_a_slow_cell_needs_a_bar_and_a_bar_inside_a_panel_counts(tmp_path):
    path = _notebook(
        tmp_path,
        "import time\nfrom cachelab.progress import elapsed",
        "time.sleep(0.4)",                                         # slow, no bar
        "with elapsed(0.4, 'timed'):\n    time.sleep(0.4)",         # slow, a bar
        "import ipywidgets as w\nout = w.Output()\ndisplay(w.VBox([w.IntSlider(), out]))\n"
        "with out:\n    with elapsed(0.4, 'in a panel'):\n        time.sleep(0.4)",
        "w.IntSlider()",                                           # a widget, but fast
    )
    with testbook(path, execute=True, timeout=60) as tb:
        found = slow_cells_without_progress(tb.nb, limit=0.2, state=tb.widget_state)
    assert [f.split(" ran")[0] for f in found] == ["cell 1"]


def test_a_chart_without_title_note_or_axis_titles_is_reported(tmp_path):
    path = _notebook(
        tmp_path,
        "import plotly.graph_objects as go\nfrom cachelab import plots",
        "go.Figure(go.Scatter(x=[1, 2], y=[3, 4])).show()",
        "plots.figure('Titled', 'x (s)', 'y (count)', note='what to notice: it rises')"
        ".add_scatter(x=[1, 2], y=[3, 4]).show()",
    )
    with testbook(path, execute=True, timeout=60) as tb:
        problems = chart_problems(tb.nb)
    assert problems == ["cell 1: a chart without a title"]
