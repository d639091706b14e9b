"""Patches of faust-streaming 0.15.x (consumer, producer buffer, app), applied at import.

apply() refuses to patch (UnsupportedFaustVersion) a faust-streaming outside
SUPPORTED_VERSIONS: each patch replaces a function of those releases and calls the original
for the rest. Each patch below names the faust function it replaces, the upstream issue
where there is one, the bug, the fix and the tests (tests/unit/worker/faust_ext/
test_fixes.py, on faust's real code) that show the bug and the fix:

1. `Consumer._new_offset` (faust#606): with out-of-order acks (agent concurrency > 1) it
   can return an offset past a message still being processed when that message sits right
   at the committed head; after a restart that message is never processed. Fix: a commit
   never passes the oldest in-flight (tracked, unacked) message.
   Tests: test_faust_would_commit_past_the_in_flight_message,
   test_leadq_never_commits_past_the_in_flight_message, test_in_order_acks_commit_as_before.
2. `Consumer._commit_offsets` (faust#316): offsets are booked as committed even when the
   commit failed (e.g. during a rebalance), so faust may never retry them. Fix: that
   bookkeeping is undone when the commit did not happen. Also (no upstream issue): a commit
   first waits until every changelog write buffered before it is acknowledged (see 3); a
   failed changelog write crashes the app instead of being committed past.
   Tests: test_a_failed_commit_is_not_booked_as_committed,
   test_leadq_commits_only_once_buffered_changelog_writes_are_acknowledged,
   test_leadq_stops_committing_when_a_changelog_write_failed.
3. `ProducerBuffer.put` (no upstream issue): before committing, faust flushes its producer,
   but `ProducerBuffer.flush` gives up after 0.1 s without a send, and a record its buffer
   task has taken but not yet handed to aiokafka is in neither. Offsets could then be
   committed past records whose state was still in memory, and after a kill -9 a restarted
   worker would resume past them with the older state. Fix: every buffered send is tracked
   (SendTracker) until it is acknowledged, for the commit of 2 to wait on.
   Tests: test_faust_flush_returns_before_a_buffered_changelog_write_is_sent,
   test_a_buffered_send_is_tracked_until_it_is_acknowledged.
4. `Consumer.ack` (no upstream issue; found by leadq's rebalance fault test): messages
   fetched before a rebalance that a stream skips afterwards (old generation, or flow
   suspended) are acked all the same. A revoke clears the consumer's books, so such an ack
   lands in the books of the *next* generation; once the partition's messages before it
   are processed, faust commits past messages it has not processed in this generation,
   and the partition's next owner never sees them. Fix: acks of messages not processed in
   the current generation are not booked (they are read again).
   Tests: test_faust_would_commit_past_messages_skipped_in_a_rebalance,
   test_leadq_books_only_acks_of_the_current_generation,
   test_leadq_does_not_book_acks_while_the_flow_is_suspended.
5. `Consumer.perform_seek` (no upstream issue): when recovery ends, faust seeks every
   partition to its committed offset, and aiokafka does not move a partition that has
   none, so records fetched and dropped during the rebalance (the position already past
   them) would never be processed. Fix: such stream partitions are sent back to their
   beginning (the `earliest` reset faust is configured with), and their first message
   must be the log's first (checked by 6).
   Tests: test_faust_leaves_a_never_committed_stream_partition_where_a_fetch_left_it,
   test_leadq_reads_a_never_committed_stream_partition_from_its_beginning.
6. `Consumer.getmany` (no upstream issue; found by leadq's rebalance storm test): after a
   rebalance, a partition's first message can come from past its committed offset (the
   fetch position skipped records; 3 of 12 short storm runs lost a lead). faust takes any
   jump in offsets for a gap of a compacted or transactional topic (its gap handling of
   faust#378) and books the skipped offsets as acked, so it committed past records that
   no worker processed. leadq's stream topics are neither, so a jump is always a hole.
   Fix: the partition is sought back to the offset it should have continued from and what
   came after the hole is dropped (it is read again, in order); offsets that retention
   deleted are let go.
   Tests: test_a_partition_that_skipped_records_is_read_again_from_the_hole,
   test_messages_in_order_pass_and_a_partition_never_sought_is_not_checked,
   test_a_partition_read_from_its_start_that_skipped_records_is_read_again,
   test_records_deleted_by_retention_are_not_sought_again_and_again.
7. `App._on_partitions_revoked` (no upstream issue; found by leadq's kill -9 test; akin to
   faust#216): faust suspends the flow of messages when a rebalance starts only if the
   worker already had partitions. On a worker's first assignment the flow stays on, so
   the agents processed the newly assigned partitions before faust paused them, recovered
   the tables and sought to the committed offsets: records were applied to a table not yet
   restored (a restarted worker re-emitted a stage change with other content) or fetched
   and dropped. Fix: the flow is suspended on the first rebalance too; recovery resumes it.
   Tests: test_faust_keeps_fetching_during_a_workers_first_rebalance,
   test_leadq_stops_fetching_during_a_workers_first_rebalance.
8. `AIOKafkaConsumerThread._create_worker_consumer` (no upstream issue; latency, not
   loss): faust hard-codes the worker consumer's fetch_max_wait_ms=1500. aiokafka keeps one
   fetch in flight per broker, and a partition whose buffered records were just consumed
   is only fetched again once that request returns: at low load a stage change could wait
   for it. Fix: the created consumer waits FETCH_MAX_WAIT_MS at most.
   Tests: test_faust_creates_its_worker_consumer_with_a_long_fetch_wait,
   test_leadq_creates_its_worker_consumer_with_a_short_fetch_wait.

leadq's own agents run with concurrency 1, which keeps acks in order
(test_leadq_agents_run_with_concurrency_one); the fixes make the worker safe regardless.
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import logging
import re
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any, Final

import faust
from faust.transport.consumer import Consumer
from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread
from faust.transport.producer import ProducerBuffer
from faust.types.tuples import ack_lock

log = logging.getLogger(__name__)

# The faust-streaming releases the patches were written for: at least the first, below the
# second (the range pyproject.toml allows).
SUPPORTED_VERSIONS: Final = ("0.15.3", "0.16")

ORIGINAL_NEW_OFFSET: Final[Callable[[Any, Any], int | None]] = Consumer._new_offset
ORIGINAL_COMMIT_OFFSETS: Final[Callable[..., Awaitable[bool]]] = Consumer._commit_offsets
ORIGINAL_PERFORM_SEEK: Final[Callable[[Any], Awaitable[None]]] = Consumer.perform_seek
ORIGINAL_ACK: Final[Callable[[Any, Any], bool]] = Consumer.ack
ORIGINAL_BUFFER_PUT: Final[Callable[[Any, Any], None]] = ProducerBuffer.put
ORIGINAL_ON_PARTITIONS_REVOKED: Final[Callable[[Any, Any], Awaitable[None]]] = (
    faust.App._on_partitions_revoked
)
ORIGINAL_CREATE_WORKER_CONSUMER: Final[Callable[..., Any]] = (
    AIOKafkaConsumerThread._create_worker_consumer
)
ORIGINAL_GETMANY: Final[Callable[[Any, float], AsyncIterator[tuple[Any, Any]]]] = Consumer.getmany

# faust hard-codes fetch_max_wait_ms=1500. aiokafka keeps one fetch in flight per broker,
# and a partition whose buffered records were just consumed is only fetched again once
# that request returns: at low load a stage change could wait for it. 20 ms bounds that.
FETCH_MAX_WAIT_MS: Final = 20


# A changelog write not acknowledged within this bound holds the commit back (it is tried
# again at the next commit); aiokafka itself fails a send after its delivery timeout.
SEND_ACK_TIMEOUT_S: Final = 60.0


class ChangelogWriteFailed(RuntimeError):
    """A buffered send (a table's changelog write) failed: its state is not durable."""


class SendTracker:
    """The sends of one producer buffer not yet acknowledged, and the first that failed."""

    def __init__(self) -> None:
        self.unacked: set[asyncio.Future[Any]] = set()
        self.failure: str | None = None

    def track(self, fut: asyncio.Future[Any]) -> None:
        self.unacked.add(fut)
        fut.add_done_callback(self._settled)

    def _settled(self, fut: asyncio.Future[Any]) -> None:
        self.unacked.discard(fut)
        if self.failure is None:
            if fut.cancelled():
                self.failure = "cancelled"
            elif fut.exception() is not None:
                self.failure = repr(fut.exception())

    async def all_acknowledged(self, timeout_s: float = SEND_ACK_TIMEOUT_S) -> bool:
        """Wait for every send tracked so far: True once all are acknowledged, False if
        some are still unacknowledged after timeout_s; raises if one failed (ever)."""
        late: set[asyncio.Future[Any]] = set()
        pending = list(self.unacked)
        if pending:
            _, late = await asyncio.wait(pending, timeout=timeout_s)
        if self.failure is not None:
            raise ChangelogWriteFailed(f"a changelog write failed: {self.failure}")
        if late:
            log.warning("%d changelog writes not acknowledged in %.0f s", len(late), timeout_s)
        return not late


_TRACKERS: Final[weakref.WeakKeyDictionary[Any, SendTracker]] = weakref.WeakKeyDictionary()


def send_tracker(buffer: Any) -> SendTracker:
    """The tracker of a producer buffer's sends."""
    tracker = _TRACKERS.get(buffer)
    if tracker is None:
        tracker = _TRACKERS[buffer] = SendTracker()
    return tracker


def _put_tracked(self: Any, fut: asyncio.Future[Any]) -> None:
    """faust's ProducerBuffer.put, tracking the send until it is acknowledged."""
    send_tracker(self).track(fut)
    ORIGINAL_BUFFER_PUT(self, fut)


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
    """faust's _commit_offsets, only once every changelog write buffered before it is
    acknowledged, and with the committed-offset bookkeeping undone on failure."""
    if not self.in_transaction:
        try:
            if not await send_tracker(self.app.producer.buffer).all_acknowledged():
                return False  # tried again at the next commit
        except ChangelogWriteFailed as exc:
            log.error("%s; the worker stops, and its records are processed again", exc)
            await self.app.crash(exc)
            return False
    before = {tp: self._committed_offset[tp] for tp in offsets}
    did_commit = await ORIGINAL_COMMIT_OFFSETS(
        self, offsets, start_new_transaction=start_new_transaction
    )
    if not did_commit:
        for tp, offset in before.items():
            self._committed_offset[tp] = offset
    return did_commit


async def _perform_seek_rereading_uncommitted(self: Any) -> None:
    """faust's perform_seek; a stream partition without a committed offset starts over."""
    next_offsets(self).clear()  # each partition goes on from its committed offset
    await ORIGINAL_PERFORM_SEEK(self)
    next_offsets(self).clear()  # and not from a message of a fetch made before the seek
    if self.app.conf.consumer_auto_offset_reset != "earliest":
        return
    changelogs = self.app.tables.changelog_topics
    uncommitted = [
        tp
        for tp in sorted(self.assignment())
        if tp.topic not in changelogs and not self._committed_offset.get(tp)
    ]
    if not uncommitted:
        return
    log_starts = await self.earliest_offsets(*uncommitted)
    expected = next_offsets(self)
    for tp in uncommitted:
        await self.seek(tp, 0)  # before its log start: aiokafka resets to the earliest
        # Its first message must be the log's first: a partition read from its start is
        # checked for holes as one read from a committed offset is.
        expected[tp] = log_starts.get(tp) or 0


async def _on_partitions_revoked_suspending_first(self: Any, revoked: Any) -> None:
    """faust's revoke handler, which also suspends the flow before the first assignment."""
    if not self.should_stop and not self.consumer.assignment():
        self.consumer.stop_flow()
        self.flow_control.suspend()
    next_offsets(self.consumer).clear()
    await ORIGINAL_ON_PARTITIONS_REVOKED(self, revoked)


_NEXT_OFFSETS: Final[weakref.WeakKeyDictionary[Any, dict[Any, int]]] = weakref.WeakKeyDictionary()


def next_offsets(consumer: Any) -> dict[Any, int]:
    """The offset each stream partition's next message must have (since the last seek)."""
    offsets = _NEXT_OFFSETS.get(consumer)
    if offsets is None:
        offsets = _NEXT_OFFSETS[consumer] = {}
    return offsets


async def _getmany_without_holes(self: Any, timeout: float) -> AsyncIterator[tuple[Any, Any]]:
    """faust's getmany, except that a stream partition's messages come without holes.

    A partition's first message after a seek must be at its committed offset (none: the
    log's start), each later one right after the one before. A message
    past that means the fetch position skipped records: the partition is sought back and
    its messages are dropped until the missing one comes.
    """
    expected = next_offsets(self)
    changelogs = self.app.tables.changelog_topics
    sought_back: set[Any] = set()
    async for tp, message in ORIGINAL_GETMANY(self, timeout):
        if tp.topic in changelogs:
            yield tp, message
            continue
        if tp in sought_back:  # the rest of this fetch comes after the hole: read again
            continue
        want = expected.get(tp)
        if want is None:
            want = self._committed_offset.get(tp) or None
        if want is not None and message.offset > want and await _deleted_before(self, tp, want):
            log.warning(
                "%s[%s]: offsets %s..%s were deleted (retention) before they were processed",
                tp.topic,
                tp.partition,
                want,
                message.offset - 1,
            )
            want = None
        if want is not None and message.offset > want:
            sought_back.add(tp)
            log.warning(
                "%s[%s]: message %s came before %s..%s, which were skipped; reading them again",
                tp.topic,
                tp.partition,
                message.offset,
                want,
                message.offset - 1,
            )
            await self.seek(tp, want)
            expected[tp] = want
            continue
        if want is None or message.offset == want:
            expected[tp] = message.offset + 1
        yield tp, message


async def _deleted_before(consumer: Any, tp: Any, offset: int) -> bool:
    """Whether the log of `tp` now starts after `offset` (retention deleted it): then a
    seek there lands at the log's start again, and the records are gone, not skipped."""
    earliest = (await consumer.earliest_offsets(tp)).get(tp)
    return earliest is not None and earliest > offset


def in_current_generation(app: Any, message: Any) -> bool:
    """Whether a message was fetched in the app's current consumer generation and no
    rebalance is going on: only then may its processing count (be acked, be stored)."""
    return bool(
        message.generation_id == app.consumer_generation_id and app.flow_control.is_active()
    )


def _ack_current_generation_only(self: Any, message: Any) -> bool:
    """faust's ack, except for a message the current generation did not process."""
    if in_current_generation(self.app, message):
        return ORIGINAL_ACK(self, message)
    with ack_lock:
        # Done with as far as this worker goes, but not committable: whoever owns the
        # partition now reads it again from the last commit.
        message.acked = True
        self._unacked_messages.discard(message)
    log.debug(
        "not booking the ack of %s[%s]@%s: fetched before a rebalance",
        message.topic,
        message.partition,
        message.offset,
    )
    return False


def _create_worker_consumer_low_wait(self: Any, transport: Any) -> Any:
    """faust's worker consumer, with a short fetch wait (see FETCH_MAX_WAIT_MS)."""
    consumer = ORIGINAL_CREATE_WORKER_CONSUMER(self, transport)
    consumer._fetch_max_wait_ms = FETCH_MAX_WAIT_MS
    return consumer


class UnsupportedFaustVersion(RuntimeError):
    """The installed faust-streaming is not one the patches were written for."""


def installed_version() -> str:
    """The installed faust-streaming's version."""
    return importlib.metadata.version("faust-streaming")


def release(version: str) -> tuple[int, ...]:
    """The numeric release part of a version ("0.15.3rc1" -> (0, 15, 3))."""
    found = re.match(r"\d+(\.\d+)*", version)
    return tuple(int(part) for part in found.group(0).split(".")) if found else ()


def check_version(version: str) -> None:
    """Raise UnsupportedFaustVersion unless `version` is in SUPPORTED_VERSIONS."""
    lowest, below = SUPPORTED_VERSIONS
    if not release(lowest) <= release(version) < release(below):
        raise UnsupportedFaustVersion(
            f"faust-streaming {version} is installed, but leadq's faust patches "
            f"(streams/worker/faust_ext/fixes.py) were written for >={lowest},<{below}; "
            "install a supported faust-streaming"
        )


def apply() -> None:
    """Patch faust (once); raises UnsupportedFaustVersion on a faust it was not written for."""
    check_version(installed_version())
    if Consumer._new_offset is _new_offset_not_past_inflight:
        return
    Consumer._new_offset = _new_offset_not_past_inflight
    Consumer._commit_offsets = _commit_offsets_keep_books_honest
    Consumer.ack = _ack_current_generation_only
    Consumer.perform_seek = _perform_seek_rereading_uncommitted
    Consumer.getmany = _getmany_without_holes
    faust.App._on_partitions_revoked = _on_partitions_revoked_suspending_first
    AIOKafkaConsumerThread._create_worker_consumer = _create_worker_consumer_low_wait
    ProducerBuffer.put = _put_tracked


apply()
