"""Notebook 08 in a real browser: run it up to the lab bench, pick another defence, press Run.

Running the whole notebook is the testbook test's job (tests/notebooks/test_08_stampede.py);
here only the cells up to the bench's first run, which is what the widgets need.
"""

from __future__ import annotations

import pytest

from .conftest import SCREENSHOTS
from .lab import charts, errors, open_notebook, press_button, run_through, select, set_slider

pytestmark = pytest.mark.browser

#: Index of the cell with the bench's first run (`run_stampede("none")`), checked below.
BENCH_FIRST_RUN = 10


def _bench(page) -> dict:
    """The lab bench's live timeline (its title names the defence of the last run)."""
    found = [c for c in charts(page) if " clients, " in c["title"] and " req/s, TTL " in c["title"]]
    assert found, f"the lab bench timeline is on the page; charts: {[c['title'][:60] for c in charts(page)]}"
    return found[0]


def test_stampede_widget_run_redraws_the_timeline(page, lab):
    open_notebook(page, lab, "08_stampede")
    run_through(page, BENCH_FIRST_RUN)
    assert errors(page) == []
    before = _bench(page)  # the notebook's first bench run (no protection) is on show
    assert not before["title"].startswith("lock:")
    queries_before = next(t for t in before["data"] if t["name"] == "DB queries")
    assert sum(queries_before["y"]) > 0

    select(page, "defence", "lock")
    set_slider(page, "clients", "PageDown")  # fewer clients: a different run, and a quicker one
    press_button(page, "Run")
    page.wait_for_function("""() => Array.from(document.querySelectorAll('.js-plotly-plot'))
        .some(el => el.layout && el.layout.title && (el.layout.title.text || '').startsWith('lock:'))""",
                           timeout=300_000)
    after = _bench(page)
    assert after["title"].startswith("lock:") and after["title"] != before["title"]
    assert after["data"] != before["data"]
    assert errors(page) == []
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    index = next(i for i, c in enumerate(charts(page)) if c["title"].startswith("lock:"))
    page.locator(".js-plotly-plot").nth(index).scroll_into_view_if_needed()
    page.screenshot(path=str(SCREENSHOTS / "08_stampede.png"), full_page=False)


def test_the_bench_cell_index_is_current():
    import json

    from .conftest import ROOT

    cells = json.loads((ROOT / "notebooks" / "08_stampede.ipynb").read_text())["cells"]
    assert "".join(cells[BENCH_FIRST_RUN]["source"]).startswith('first = run_stampede("none")')
