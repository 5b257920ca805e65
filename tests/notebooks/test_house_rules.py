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
        "import time\nimport ipywidgets as w\nfrom cachelab.progress import elapsed",
        "time.sleep(2)",                                           # slow, no bar
        "with elapsed(2, 'timed'):\n    time.sleep(2)",             # slow, a bar
        "out = w.Output()\ndisplay(w.VBox([w.IntSlider(), out]))\n"
        "with out:\n    with elapsed(2, 'in a panel'):\n        time.sleep(2)",
        "1 + 1",                                                   # fast
    )
    with testbook(path, execute=True, timeout=120) as tb:
        found = slow_cells_without_progress(tb.nb, limit=1.0, state=tb.widget_state)
    # Cell 0 (the imports) may take longer than the limit on a busy machine; it is not judged.
    assert [f.split(" ran")[0] for f in found if not f.startswith("cell 0 ")] == ["cell 1"]


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
