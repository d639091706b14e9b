"""Work-arounds for two offset-commit bugs of faust-streaming 0.15.x, applied at import.

- faust#606: with out-of-order acks (agent concurrency > 1), `Consumer._new_offset` can
  return an offset past a message that is still being processed when that message sits
  right at the committed head; after a restart it is never processed. Fixed here by
  never letting a commit pass the oldest in-flight (tracked, unacked) message.
- faust#316: `Consumer._commit_offsets` records offsets as committed even when the commit
  failed (e.g. during a rebalance), so faust may never retry them. Fixed here by undoing
  that bookkeeping when the commit did not happen.

leadq's own agents run with concurrency 1, which keeps acks in order; the fixes make the
worker safe regardless, and tests/unit/test_faust_fixes.py shows both bugs and fixes on
faust's real consumer code.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Final

import faust
from faust.transport.consumer import Consumer
from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread

log = logging.getLogger(__name__)

PATCHED_SERIES: Final = "0.15."

ORIGINAL_NEW_OFFSET: Final[Callable[[Any, Any], int | None]] = Consumer._new_offset
ORIGINAL_COMMIT_OFFSETS: Final[Callable[..., Awaitable[bool]]] = Consumer._commit_offsets
ORIGINAL_CREATE_WORKER_CONSUMER: Final[Callable[..., Any]] = (
    AIOKafkaConsumerThread._create_worker_consumer
)

# faust hard-codes fetch_max_wait_ms=1500. aiokafka keeps one fetch in flight per broker,
# and a partition whose buffered records were just consumed is only fetched again once
# that request returns: at low load a stage change could wait for it. 20 ms bounds that.
FETCH_MAX_WAIT_MS: Final = 20


def _new_offset_not_past_inflight(self: Any, tp: Any) -> int | None:
    """faust's _new_offset, but blind to acks behind a message still being processed."""
    inflight = [m.offset for m in self._unacked_messages if m.tp == tp]
    acked: list[int] = self._acked[tp]
    if not inflight or not acked:
        return ORIGINAL_NEW_OFFSET(self, tp)
    oldest = min(inflight)
    later = [offset for offset in acked if offset > oldest]
    if not later:
        return ORIGINAL_NEW_OFFSET(self, tp)
    acked[:] = [offset for offset in acked if offset < oldest]
    try:
        return ORIGINAL_NEW_OFFSET(self, tp)
    finally:
        acked.extend(later)
        acked.sort()


async def _commit_offsets_keep_books_honest(
    self: Any, offsets: Mapping[Any, int], start_new_transaction: bool = True
) -> bool:
    """faust's _commit_offsets, with the committed-offset bookkeeping undone on failure."""
    before = {tp: self._committed_offset[tp] for tp in offsets}
    did_commit = await ORIGINAL_COMMIT_OFFSETS(
        self, offsets, start_new_transaction=start_new_transaction
    )
    if not did_commit:
        for tp, offset in before.items():
            self._committed_offset[tp] = offset
    return did_commit


def _create_worker_consumer_low_wait(self: Any, transport: Any) -> Any:
    """faust's worker consumer, with a short fetch wait (see FETCH_MAX_WAIT_MS)."""
    consumer = ORIGINAL_CREATE_WORKER_CONSUMER(self, transport)
    consumer._fetch_max_wait_ms = FETCH_MAX_WAIT_MS
    return consumer


def apply() -> bool:
    """Patch faust's consumer (once); False if this faust version is not the one fixed."""
    if Consumer._new_offset is _new_offset_not_past_inflight:
        return True
    if not faust.__version__.startswith(PATCHED_SERIES):
        log.warning(
            "faust %s: leadq's offset-commit fixes target %sx; check faust#606 and #316",
            faust.__version__,
            PATCHED_SERIES,
        )
        return False
    Consumer._new_offset = _new_offset_not_past_inflight
    Consumer._commit_offsets = _commit_offsets_keep_books_honest
    AIOKafkaConsumerThread._create_worker_consumer = _create_worker_consumer_low_wait
    return True


apply()
