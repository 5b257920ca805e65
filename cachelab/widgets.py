"""ipywidgets panels: sliders and a Run button that call a plain function and redraw."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import ipywidgets as w
from IPython.display import display

__all__ = ["panel", "slider", "int_slider", "choice"]


def slider(description: str, value: float, min: float, max: float, step: float) -> w.FloatSlider:
    """A float slider wide enough to read its label."""
    return w.FloatSlider(value=value, min=min, max=max, step=step, description=description,
                         style={"description_width": "initial"}, continuous_update=False,
                         layout=w.Layout(width="420px"))


def int_slider(description: str, value: int, min: int, max: int, step: int = 1) -> w.IntSlider:
    """An int slider wide enough to read its label."""
    return w.IntSlider(value=value, min=min, max=max, step=step, description=description,
                       style={"description_width": "initial"}, continuous_update=False,
                       layout=w.Layout(width="420px"))


def choice(description: str, options, value=None) -> w.Dropdown:
    """A dropdown."""
    options = list(options)
    return w.Dropdown(options=options, value=value if value is not None else options[0],
                      description=description, style={"description_width": "initial"})


def panel(run: Callable[..., object], controls: Mapping[str, w.ValueWidget], *,
          show: Callable[[object], None] | None = None, auto: bool = False,
          run_now: bool = False, button: str = "Run") -> w.VBox:
    """Controls + Run button + output area; Run calls ``run(**values)`` and ``show(result)``.

    The experiment stays a plain function, so tests call ``run`` directly; the panel only
    collects widget values. ``show`` receives the result and displays it (default: display).
    ``auto`` reruns on every change; ``run_now`` runs once with the defaults right away.
    """
    out = w.Output()
    btn = w.Button(description=button, button_style="primary", icon="play")
    status = w.HTML()

    def on_click(_=None):
        btn.disabled = True
        status.value = "<i>running…</i>"
        out.clear_output(wait=True)
        try:
            with out:
                result = run(**{name: c.value for name, c in controls.items()})
                (show or display)(result)
            status.value = "<span style='color:green'>done</span>"
        except Exception as exc:  # shown in the panel; the kernel stays usable
            status.value = f"<span style='color:#b00'>{type(exc).__name__}: {exc}</span>"
            raise
        finally:
            btn.disabled = False

    btn.on_click(on_click)
    if auto:
        for c in controls.values():
            c.observe(lambda change: on_click(), names="value")
    box = w.VBox([*controls.values(), w.HBox([btn, status]), out])
    box.run = on_click  # lets a test or the browser press Run programmatically
    box.button, box.output = btn, out
    if run_now:
        on_click()
    return box
