"""Every notebook's self-checks pass on the worked solutions and reject the wrong answers."""

from __future__ import annotations

import importlib
import importlib.util
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # the self-checks run real workloads: make test, not make test-quick

ROOT = Path(__file__).resolve().parents[1]
SOLUTIONS = sorted((ROOT / "solutions").glob("ex*.py"))


def _load(path: Path):
    spec = importlib.util.spec_from_file_location(f"solutions_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _cases():
    for path in SOLUTIONS:
        checks = importlib.import_module(f"cachelab.exercises.{path.stem}").CHECKS
        for n in checks:
            yield pytest.param(path, n, id=f"{path.stem}-{n}")


def test_every_notebook_with_exercises_has_solutions():
    notebooks = {p.stem for p in (ROOT / "notebooks").glob("*.ipynb")}
    solved = {p.stem.removeprefix("ex") for p in SOLUTIONS}
    assert notebooks <= solved, f"no solutions for {sorted(notebooks - solved)}"


@pytest.mark.parametrize("path, n", list(_cases()))
def test_self_check_passes_on_the_solution_and_fails_on_a_wrong_answer(r, path, n):
    from cachelab.selfcheck import run_check

    checks = importlib.import_module(f"cachelab.exercises.{path.stem}").CHECKS
    solutions = _load(path)
    assert run_check(checks[n], solutions.SOLUTIONS[n], quiet=True), "solution rejected"
    assert not run_check(checks[n], solutions.WRONG[n], quiet=True), "wrong answer accepted"
    for wrong in getattr(solutions, "MORE_WRONG", {}).get(n, []):
        assert not run_check(checks[n], wrong, quiet=True), f"{wrong.__name__} accepted"


def test_unfinished_exercise_is_reported_not_raised():
    from cachelab.selfcheck import run_check

    def unfinished(*args):
        raise NotImplementedError

    assert run_check(lambda answer: answer(), unfinished, quiet=True) is False
