"""Waiting on a condition in tests: polled, with a deadline that only bounds a hang."""

from __future__ import annotations

import time
from collections.abc import Callable


def wait_for(cond: Callable[[], object], timeout: float = 120.0) -> None:
    """Return once `cond()` is true; fail after `timeout` seconds, which only a hang can reach."""
    end = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > end:
            raise AssertionError("timed out waiting")
        time.sleep(0.005)
