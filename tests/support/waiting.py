"""Waiting on a condition with a deadline, instead of sleeping a fixed time."""

from __future__ import annotations

import time
from collections.abc import Callable


def wait_for(condition: Callable[[], bool], deadline: float = 15.0, every: float = 0.01) -> bool:
    """Whether ``condition()`` held within ``deadline`` seconds (asked every ``every`` s)."""
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        if condition():
            return True
        time.sleep(every)
    return False
