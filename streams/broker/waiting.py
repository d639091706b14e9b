"""Waiting: polling a condition, a file lock between processes, a coroutine run to its end."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import fcntl
import os
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

from tenacity import Retrying, retry_if_result, stop_after_delay, wait_fixed

from streams.broker.errors import BrokerError

__all__ = ["POLL_INTERVAL", "file_lock", "run_async", "wait_for"]

_T = TypeVar("_T")

POLL_INTERVAL = 0.1
"""Seconds between two checks of a condition that is waited for."""


def wait_for(
    condition: Callable[[], bool], timeout: float, interval: float = POLL_INTERVAL
) -> bool:
    """Poll ``condition`` until it returns True or ``timeout`` seconds passed; return its value."""
    retrying = Retrying(
        stop=stop_after_delay(max(timeout, 0.0)),
        wait=wait_fixed(interval),
        retry=retry_if_result(lambda ok: not ok),
        retry_error_callback=lambda _state: False,
    )
    return bool(retrying(condition))


def _try_lock(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


@contextlib.contextmanager
def file_lock(path: Path, timeout: float, activity: str) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``path``, waiting at most ``timeout`` seconds for it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        if not wait_for(lambda: _try_lock(fd), timeout):
            raise BrokerError(
                f"another leadq process has been {activity} for more than {timeout:.0f} s "
                f"(it holds {path}); wait for it to finish or stop it, then try again."
            )
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def run_async(make: Callable[[], Coroutine[Any, Any, _T]]) -> _T:
    """Run a coroutine to completion, also when called from inside a running event loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(make())
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(lambda: asyncio.run(make())).result()
