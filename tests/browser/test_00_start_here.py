"""Notebook 00 in a real browser: every cell runs, the doctor report and the charts render."""

from __future__ import annotations

import pytest

from .conftest import SCREENSHOTS
from .lab import errors, open_notebook, plot_data, press_button, run_all, set_slider

pytestmark = pytest.mark.browser


def test_start_here_renders(page, lab):
    open_notebook(page, lab, "00_start_here")
    run_all(page)
    assert errors(page) == []
    doctor = page.locator("table.cachelab-doctor")
    doctor.first.wait_for(timeout=30_000)
    assert "redis" in doctor.first.text_content().lower()
    page.wait_for_selector(".js-plotly-plot", timeout=60_000)
    charts = plot_data(page)
    ladders = [c for c in charts if any(t["name"] == "brief's nominal figure" for t in c)]
    assert ladders, "the latency ladder chart rendered"
    measured = next(t for t in ladders[0] if t["name"] == "measured here")
    assert len(measured["y"]) >= 8 and all(v > 0 for v in measured["y"])
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.locator(".js-plotly-plot").last.scroll_into_view_if_needed()
    page.screenshot(path=str(SCREENSHOTS / "00_start_here.png"), full_page=False)


def test_knob_slider_redraws_the_chart(page, lab):
    open_notebook(page, lab, "00_start_here")
    run_all(page)

    def knob_chart():
        charts = page.evaluate("""() => Array.from(document.querySelectorAll('.js-plotly-plot'))
            .map(el => ({title: el.layout && el.layout.title && el.layout.title.text,
                         y: Array.from((el.data[0] || {}).y || [])}))""")
        return next(c for c in charts if c["title"] and "One read at knob" in c["title"])

    before = knob_chart()
    assert "knob = 20 ms" in before["title"]
    set_slider(page, "DB latency knob (ms)", "End")  # to 100 ms
    press_button(page, "Run")
    page.wait_for_function("""() => Array.from(document.querySelectorAll('.js-plotly-plot'))
        .some(el => el.layout && el.layout.title && el.layout.title.text.includes('knob = 100 ms'))""",
                           timeout=60_000)
    after = knob_chart()
    assert after["y"] != before["y"]
    assert errors(page) == []
