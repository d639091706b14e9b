"""The wall clock in epoch milliseconds, the one clock the worker reads besides event time."""

from __future__ import annotations

import time


def wall_ms() -> int:
    """Wall-clock time in epoch milliseconds."""
    return time.time_ns() // 1_000_000
