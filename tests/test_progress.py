"""The time-based progress bar: fills with the clock, stops its thread, rejects bad input."""

import threading
import time

import pytest

from cachelab.progress import elapsed


def test_bar_follows_the_clock_and_stops():
    t0 = time.monotonic()
    with elapsed(60, "run") as bar:
        while time.monotonic() - t0 < 0.6:   # the work being timed
            pass
    taken = time.monotonic() - t0
    assert 0.5 <= bar.n <= round(taken, 1) + 0.1
    assert bar.total == 60
    assert not any(t.name == "cachelab-progress" for t in threading.enumerate())


def test_bar_is_capped_at_the_plan():
    with elapsed(0.1, "short") as bar:
        t0 = time.monotonic()
        while time.monotonic() - t0 < 0.4:
            pass
    assert bar.n == bar.total == 0.1


def test_bar_closes_when_the_block_raises():
    with pytest.raises(KeyError), elapsed(5, "boom"):
        raise KeyError("x")
    assert not any(t.name == "cachelab-progress" for t in threading.enumerate())


@pytest.mark.parametrize("bad", [0, -1])
def test_rejects_non_positive_plans(bad):
    with pytest.raises(ValueError, match="seconds must be > 0"), elapsed(bad, "x"):
        pass


@pytest.mark.parametrize("enabled", [True, False])
def test_counting_bar_moves_forward_only_and_stops_at_total(enabled):
    from cachelab.progress import advance_to, counting

    bar = counting(10, "rows", unit="row", enabled=enabled)
    for seen in (3, 2, 7, 15):   # a polled counter can be read out of order
        advance_to(bar, seen)
    assert bar.n == 10
    bar.close()
