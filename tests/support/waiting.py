"""Polling for a condition in integration tests: a generous bound that fails the test with what
was awaited, never a timing the test asserts."""

from __future__ import annotations

import time
from collections.abc import Callable


def wait_until(check: Callable[[], object], what: str, *, within: float, every: float = 0.1) -> None:
    """Polls ``check`` every ``every`` seconds until it is true; AssertionError after ``within``."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(every)
    raise AssertionError(f"not within {within:g} s: {what}")
