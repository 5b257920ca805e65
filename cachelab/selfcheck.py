"""Self-check cells for the exercises: run the learner's code for real, explain failures plainly."""

from __future__ import annotations

import traceback
from collections.abc import Callable

__all__ = ["CheckFailed", "expect", "run_check"]


class CheckFailed(AssertionError):
    """The learner's answer is wrong; the message says how, in plain words."""


def expect(condition: object, message: str) -> None:
    """Fail the check with ``message`` unless ``condition`` holds."""
    if not condition:
        raise CheckFailed(message)


def _show(ok: bool, text: str) -> None:
    try:
        from IPython.display import HTML, display

        colour = "#1a7f37" if ok else "#cf222e"
        mark = "✔" if ok else "✘"
        display(HTML(f"<div style='color:{colour};font-weight:bold'>{mark} {text}</div>"))
    except ImportError:  # plain Python
        print(("✔ " if ok else "✘ ") + text)


def run_check(check: Callable[..., str | None], answer: Callable, *, quiet: bool = False) -> bool:
    """Run ``check(answer)``; show a green tick or what is wrong, and return whether it passed.

    Never raises for a wrong answer, so a notebook with unfinished exercises still runs.
    """
    try:
        detail = check(answer)
    except NotImplementedError:
        ok, text = False, "not done yet: replace the `raise NotImplementedError` with your code."
    except CheckFailed as exc:
        ok, text = False, str(exc)
    except Exception as exc:  # the learner's code crashed: show where, briefly
        frame = traceback.extract_tb(exc.__traceback__)[-1]
        ok, text = False, (f"your code raised {type(exc).__name__}: {exc} "
                           f"(line {frame.lineno}: {frame.line})")
    else:
        ok, text = True, f"correct{': ' + detail if detail else '.'}"
    if not quiet:
        _show(ok, text)
    return ok
