"""Drive JupyterLab through its own command registry (exposed with expose_app_in_browser)."""

from __future__ import annotations

import time

ERROR_SELECTOR = "[data-mime-type='application/vnd.jupyter.error']"


def open_notebook(page, lab: dict, name: str) -> None:
    """Open notebooks/<name>.ipynb and wait until its kernel is idle."""
    page.goto(f"{lab['base']}/lab/tree/notebooks/{name}.ipynb?token={lab['token']}")
    page.wait_for_function("() => window.jupyterapp && window.jupyterapp.shell.currentWidget"
                           " && window.jupyterapp.shell.currentWidget.sessionContext", timeout=120_000)
    wait_idle(page)


def kernel_status(page) -> str:
    return page.evaluate("""() => {
        const w = window.jupyterapp.shell.currentWidget;
        const k = w && w.sessionContext && w.sessionContext.session && w.sessionContext.session.kernel;
        return k ? k.status : 'none';
    }""")


def wait_idle(page, timeout: float = 600) -> None:
    """Wait until the kernel exists and has been idle for a moment."""
    deadline = time.monotonic() + timeout
    idle_since = None
    while time.monotonic() < deadline:
        if kernel_status(page) == "idle":
            idle_since = idle_since or time.monotonic()
            if time.monotonic() - idle_since > 1.0:
                return
        else:
            idle_since = None
        page.wait_for_timeout(200)
    raise TimeoutError(f"kernel still {kernel_status(page)!r} after {timeout}s")


def run_all(page, timeout: float = 900) -> None:
    """Run every cell and wait for the kernel to finish."""
    page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
    page.wait_for_timeout(1000)
    wait_idle(page, timeout)


def run_through(page, last: int, timeout: float = 900) -> None:
    """Run cells 0..``last`` (the set-up up to a widget panel) and wait for the kernel."""
    page.evaluate(f"""() => {{
        const nb = window.jupyterapp.shell.currentWidget.content;
        nb.activeCellIndex = {last + 1};
        return window.jupyterapp.commands.execute('notebook:run-all-above');
    }}""")
    page.wait_for_timeout(1000)
    wait_idle(page, timeout)


def errors(page) -> list[str]:
    """Text of every error output shown in the notebook."""
    return [e.inner_text()[:500] for e in page.query_selector_all(ERROR_SELECTOR)]


def plot_data(page) -> list:
    """The trace data of every rendered plotly chart, as plotly.js holds it."""
    return page.evaluate("""() => Array.from(document.querySelectorAll('.js-plotly-plot'))
        .map(el => (el.data || []).map(t => ({name: t.name || null,
                                               x: Array.from(t.x || []), y: Array.from(t.y || [])})))""")


def set_slider(page, description: str, key: str = "End") -> None:
    """Move the ipywidgets slider labelled ``description`` with the keyboard, as a user would."""
    widget = page.locator(".widget-slider", has=page.locator(f"label:text-is('{description}')"))
    handle = widget.locator(".noUi-handle").first
    handle.scroll_into_view_if_needed()
    handle.focus()
    page.keyboard.press(key)


def press_button(page, label: str, nth: int = 0) -> None:
    """Click an ipywidgets button by its label and wait for the kernel to finish."""
    button = page.locator(f"button.jupyter-button:has-text('{label}')").nth(nth)
    button.scroll_into_view_if_needed()
    button.click()
    page.wait_for_timeout(500)
    wait_idle(page)


def select(page, description: str, value: str) -> None:
    """Choose ``value`` in the ipywidgets dropdown labelled ``description``."""
    widget = page.locator(".widget-dropdown", has=page.locator(f"label:text-is('{description}')"))
    widget.locator("select").first.select_option(value)


def charts(page) -> list[dict]:
    """Title and trace data of every rendered plotly chart."""
    return page.evaluate("""() => Array.from(document.querySelectorAll('.js-plotly-plot'))
        .map(el => ({title: (el.layout && el.layout.title && el.layout.title.text) || '',
                     data: (el.data || []).map(t => ({name: t.name || null,
                                                      x: Array.from(t.x || []),
                                                      y: Array.from(t.y || [])}))}))""")
