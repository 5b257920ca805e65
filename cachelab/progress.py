"""Progress bars for notebook cells that run for a set time rather than a set count."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


@contextmanager
def elapsed(seconds: float, desc: str, *, every: float = 0.25) -> Iterator[Any]:
    """Show a bar filling with wall-clock seconds while the block runs (planned: ``seconds``)."""
    if seconds <= 0:
        raise ValueError(f"seconds must be > 0, got {seconds!r}")
    from tqdm.auto import tqdm  # lazy: the package works without a notebook front end

    # A bar for a run that is bounded by time, not by a count of steps: the clients of a load
    # run do not report back one by one, so the honest measure of progress is the clock.
    bar = tqdm(total=round(seconds, 1), desc=desc, unit="s", leave=False,
               bar_format="{desc}: {bar}| {n:.1f}/{total:.1f} s")
    done = threading.Event()
    t0 = time.monotonic()

    def tick() -> None:
        while not done.wait(every):
            bar.n = round(min(time.monotonic() - t0, bar.total), 1)
            bar.refresh()

    ticker = threading.Thread(target=tick, name="cachelab-progress", daemon=True)
    ticker.start()
    try:
        yield bar
    finally:
        done.set()
        ticker.join()
        bar.n = round(min(time.monotonic() - t0, bar.total), 1)
        bar.close()


class _Silent:
    """Stands in for a bar when progress is off: counts, shows nothing."""

    def __init__(self, total: float) -> None:
        self.n, self.total = 0, total

    def update(self, k: float = 1) -> None:
        self.n += k

    def set_description(self, desc: str) -> None:
        pass

    def close(self) -> None:
        pass


def counting(total: float, desc: str, *, unit: str = "it", enabled: bool = True) -> Any:
    """A tqdm bar over ``total`` things (or a silent stand-in); move it with :func:`advance_to`."""
    if not enabled:
        return _Silent(total)
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit=unit, leave=False)


def advance_to(bar: Any, n: float) -> None:
    """Move ``bar`` forward to ``n`` (never back, never past its total): for polled counters."""
    step = min(n, bar.total) - bar.n
    if step > 0:
        bar.update(step)
