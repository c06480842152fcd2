"""Waiting in the fault suite."""

from __future__ import annotations

from collections.abc import Callable

from tests.support import wait_for


def poll_until(condition: Callable[[], object], timeout: float, interval: float = 0.1) -> bool:
    """Like ``tests.support.wait_for`` but answers False at the deadline (for tests that report figures
    either way)."""
    try:
        wait_for(condition, timeout, interval=interval)
        return True
    except AssertionError:
        return False
