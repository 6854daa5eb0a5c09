"""Polling helper shared by tests that wait for background threads or real servers."""

from __future__ import annotations

import time
from collections.abc import Callable


def wait_for(condition: Callable[[], object], timeout_s: float, poll_s: float = 0.1) -> bool:
    """True as soon as `condition()` is truthy; False after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(poll_s)
    return False
