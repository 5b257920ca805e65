"""Run a notebook headless with testbook (FAST mode) and hand its `results` dict to the tests."""

from __future__ import annotations

from pathlib import Path

from testbook import testbook

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"


def execute(name: str, timeout: int = 900):
    """Context manager: the executed notebook ``name`` (e.g. '00_start_here') as a testbook client."""
    return testbook(NOTEBOOKS / f"{name}.ipynb", execute=True, timeout=timeout)
