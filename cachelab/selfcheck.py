"""Self-check cells for the exercises: run the learner's code for real, explain failures plainly."""

from __future__ import annotations

import atexit
import shutil
import tempfile
import traceback
from collections.abc import Callable
from pathlib import Path

__all__ = ["CheckFailed", "expect", "run_check", "scratch_db"]


class CheckFailed(AssertionError):
    """The learner's answer is wrong; the message says how, in plain words."""


def scratch_db(**options):
    """A seeded :class:`~cachelab.db.Database` in a folder of its own, removed at exit.

    A fixed file name would be shared by everything that runs the same check at once (two
    kernels, a notebook and the test suite): one would reseed it under the other.
    """
    from .db import Database

    folder = tempfile.mkdtemp(prefix="cachelab-selfcheck-")
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return Database(Path(folder) / "selfcheck.sqlite", **options)


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
