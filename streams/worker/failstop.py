"""Retry an event's I/O; if it keeps failing, stop the worker before faust commits past it.

faust acks an event whose agent body raised (the stream's `finally` acks it), so the next
offset commit would skip it: an event lost without a trace. Instead, leadq retries the
event's sends and table write with backoff, and when they keep failing it ends the
process at once, without committing; the restarted worker processes the event again.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Awaitable, Callable
from typing import Any, Final, NoReturn, TypeVar

from tenacity import AsyncRetrying, stop_after_delay, wait_exponential

log = logging.getLogger(__name__)

RETRY_FOR_S: Final = 30.0
EXIT_CODE: Final = 70  # EX_SOFTWARE: the supervisor (systemd, Kubernetes, leadq demo) restarts
_T = TypeVar("_T")


async def retry_or_stop(
    what: str, attempt: Callable[..., Awaitable[_T]], *args: Any, **kwargs: Any
) -> _T:
    """Await `attempt(*args, **kwargs)` until it succeeds (bounded), else stop uncommitted."""
    try:
        return await attempt(*args, **kwargs)  # the common case, without retry bookkeeping
    except Exception as first:
        log.warning("%s failed (%r); retrying for up to %gs", what, first, RETRY_FOR_S)
    try:
        async for trial in AsyncRetrying(
            stop=stop_after_delay(RETRY_FOR_S),
            wait=wait_exponential(multiplier=0.05, max=2.0),
            reraise=True,
        ):
            with trial:
                return await attempt(*args, **kwargs)
    except Exception as exc:  # every failure here is fatal by design
        stop_now(f"{what} kept failing for {RETRY_FOR_S:g}s: {exc!r}")
    raise AssertionError("unreachable")  # AsyncRetrying either returns or raises


def stop_now(reason: str) -> NoReturn:
    """End the process immediately: no offset commit, so nothing acked is skipped."""
    log.critical(
        "stopping the worker without committing offsets (%s); "
        "its events are processed again when it restarts",
        reason,
    )
    logging.shutdown()
    os._exit(EXIT_CODE)
