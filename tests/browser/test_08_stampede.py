"""Notebook 08 in a real browser: run it, pick another defence and more clients, press Run."""

from __future__ import annotations

import pytest

from .conftest import SCREENSHOTS
from .lab import charts, errors, open_notebook, press_button, run_all, select, set_slider

pytestmark = pytest.mark.browser


def _bench(page) -> dict:
    """The lab bench's live timeline (its title names the defence of the last run)."""
    found = [c for c in charts(page) if " clients, " in c["title"] and " req/s, TTL " in c["title"]]
    assert found, f"the lab bench timeline is on the page; charts: {[c['title'][:60] for c in charts(page)]}"
    return found[0]


def test_stampede_widget_run_redraws_the_timeline(page, lab):
    open_notebook(page, lab, "08_stampede")
    run_all(page, timeout=1200)
    assert errors(page) == []
    before = _bench(page)  # the notebook's own runs leave the last defence it ran on show
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
