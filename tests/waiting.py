"""Polling for a real effect (an expiry, a reconnect, a delivered message), never a fixed sleep."""

from __future__ import annotations

import time
from collections.abc import Callable


def until(condition: Callable[[], object], timeout: float = 5.0, interval: float = 0.01) -> bool:
    """Poll ``condition`` until it is true or ``timeout`` seconds pass; return its last value's truth.

    The timeout is a liveness bound (how long to wait before calling it a failure), not a claim
    about speed: on a loaded machine the effect may take most of it.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(interval)
    return bool(condition())
