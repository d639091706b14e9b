"""faust 0.15's offset-commit bugs on its real consumer code: each bug, then leadq's fix."""

from __future__ import annotations

import asyncio
import importlib.metadata
from typing import Any

import pytest
from faust.types import TP

from streams.settings import Settings
from streams.worker.app import build
from streams.worker.faust_ext import fixes as faust_fixes
from tests.unit.worker.faust_ext.consumer_states import (
    EVENTS,
    TOPIC,
    InFlight,
    buffered_write,
    committing,
    delivered,
    fetch_returning,
    fetched,
    first_rebalance,
    head_gap_state,
    stale_ack_after_rebalance,
    uncommitted_partitions,
)


def test_faust_would_commit_past_the_in_flight_message(consumer: Any) -> None:
    head_gap_state(consumer)
    assert faust_fixes.ORIGINAL_NEW_OFFSET(consumer, TOPIC) == 2590  # 2585 would be lost


def test_leadq_never_commits_past_the_in_flight_message(consumer: Any) -> None:
    faust_fixes.apply()
    in_flight = head_gap_state(consumer)
    assert consumer._new_offset(TOPIC) is None
    assert in_flight.offset == 2585
    # Once 2585 is done, everything up to 2589 is committable.
    consumer._unacked_messages.clear()
    consumer._acked[TOPIC].insert(0, 2585)
    assert consumer._new_offset(TOPIC) == 2590


def test_in_order_acks_commit_as_before(consumer: Any) -> None:
    consumer._committed_offset[TOPIC] = 10
    consumer._acked[TOPIC] = [10, 11, 12]
    consumer._acked_index[TOPIC] = {10, 11, 12}
    in_flight = InFlight(TOPIC, 13)
    consumer._unacked_messages.add(in_flight)
    assert consumer._new_offset(TOPIC) == 13


@pytest.mark.asyncio
async def test_a_failed_commit_is_not_booked_as_committed(
    consumer: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def flush() -> None:
        return None

    async def commit_fails(offsets: Any) -> bool:
        return False

    monkeypatch.setattr(consumer.app.producer, "flush", flush)
    monkeypatch.setattr(consumer, "_commit", commit_fails)
    monkeypatch.setattr(consumer, "assignment", lambda: {TOPIC})
    consumer._committed_offset[TOPIC] = 100
    assert await faust_fixes.ORIGINAL_COMMIT_OFFSETS(consumer, {TOPIC: 150}) is False
    assert consumer._committed_offset[TOPIC] == 150  # faust#316: booked though it failed
    consumer._committed_offset[TOPIC] = 100
    assert await consumer._commit_offsets({TOPIC: 150}) is False
    assert consumer._committed_offset[TOPIC] == 100  # leadq: still the real position


def test_leadq_agents_run_with_concurrency_one(tmp_path: Any) -> None:
    worker = build(Settings(topic_prefix="fixes.", data_dir=tmp_path, store="memory://"))
    assert [agent.concurrency for agent in worker.app.agents.values()] == [1]


def test_faust_would_commit_past_messages_skipped_in_a_rebalance(consumer: Any) -> None:
    stale_ack_after_rebalance(consumer, faust_fixes.ORIGINAL_ACK)
    consumer._acked[TOPIC].extend([108, 109])
    consumer._acked_index[TOPIC].update([108, 109])
    # 110..119 were never processed in generation 2, yet faust would commit past them.
    assert faust_fixes.ORIGINAL_NEW_OFFSET(consumer, TOPIC) == 120


def test_leadq_books_only_acks_of_the_current_generation(consumer: Any) -> None:
    faust_fixes.apply()
    stale_ack_after_rebalance(consumer, type(consumer).ack)
    assert consumer._new_offset(TOPIC) == 108  # processed in this generation: 105..107
    for offset in range(108, 120):  # read again and processed in generation 2
        consumer.ack(fetched(offset, generation=2))
    assert consumer._new_offset(TOPIC) == 120


def test_leadq_does_not_book_acks_while_the_flow_is_suspended(consumer: Any) -> None:
    faust_fixes.apply()
    consumer.app.topics._acking_topics.add(TOPIC.topic)
    consumer.app.consumer_generation_id = 3
    consumer.app.flow_control.suspend()  # a rebalance has started
    consumer.ack(fetched(50, generation=3))
    assert consumer._acked[TOPIC] == []
    assert consumer._new_offset(TOPIC) is None


STEP_TIMEOUT_S = 5.0
NOT_DONE_WITHIN_S = 0.2  # long enough for a commit that does not wait to finish


@pytest.mark.asyncio
async def test_faust_flush_returns_before_a_buffered_changelog_write_is_sent(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """faust's commit flushes the producer buffer first; the flush does not wait for a
    record the buffer task has taken but not yet handed to the Kafka client."""
    settings = Settings(topic_prefix="fixes.", data_dir=tmp_path, store="memory://")
    buffer = build(settings).app.producer.buffer  # built on this test's event loop
    gate, taken = asyncio.Event(), asyncio.Event()
    sent: list[Any] = []

    async def slow_send(fut: Any) -> None:
        taken.set()
        await gate.wait()
        sent.append(fut)

    monkeypatch.setattr(buffer, "_send_pending", slow_send)
    await asyncio.wait_for(buffer.start(), STEP_TIMEOUT_S)
    try:
        write: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        buffer.put(write)
        await asyncio.wait_for(taken.wait(), STEP_TIMEOUT_S)
        assert buffer.size == 0
        await asyncio.wait_for(buffer.flush(), STEP_TIMEOUT_S)
        assert sent == []  # flushed, yet the changelog write is not even sent
    finally:
        gate.set()
        await asyncio.wait_for(buffer.stop(), STEP_TIMEOUT_S)


@pytest.mark.asyncio
async def test_leadq_commits_only_once_buffered_changelog_writes_are_acknowledged(
    consumer: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    faust_fixes.apply()
    commits = committing(consumer, monkeypatch)
    write = buffered_write(consumer)  # a table write of a record before offset 150
    commit = asyncio.ensure_future(consumer._commit_offsets({TOPIC: 150}))
    done, _ = await asyncio.wait({commit}, timeout=NOT_DONE_WITHIN_S)
    assert not done  # held back while the write is unacknowledged
    assert commits == []
    write.set_result("acknowledged")
    assert await asyncio.wait_for(commit, STEP_TIMEOUT_S) is True
    assert commits == [{TOPIC: 150}]


@pytest.mark.asyncio
async def test_leadq_stops_committing_when_a_changelog_write_failed(
    consumer: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    faust_fixes.apply()
    commits = committing(consumer, monkeypatch)
    crashes: list[BaseException] = []

    async def crash(reason: BaseException) -> None:
        crashes.append(reason)

    monkeypatch.setattr(consumer.app, "crash", crash)
    write = buffered_write(consumer)
    write.set_exception(RuntimeError("broker gone"))
    assert await asyncio.wait_for(consumer._commit_offsets({TOPIC: 150}), STEP_TIMEOUT_S) is False
    assert commits == []
    assert [type(c) for c in crashes] == [faust_fixes.ChangelogWriteFailed]
    assert "broker gone" in str(crashes[0])
    # Nor does a later commit pass the lost write.
    assert await asyncio.wait_for(consumer._commit_offsets({TOPIC: 160}), STEP_TIMEOUT_S) is False
    assert commits == []


@pytest.mark.asyncio
async def test_faust_leaves_a_never_committed_stream_partition_where_a_fetch_left_it(
    consumer: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    *_, seeks = uncommitted_partitions(consumer, monkeypatch)
    await asyncio.wait_for(faust_fixes.ORIGINAL_PERFORM_SEEK(consumer), STEP_TIMEOUT_S)
    assert seeks == []  # records fetched and dropped in a rebalance would be skipped


@pytest.mark.asyncio
async def test_leadq_reads_a_never_committed_stream_partition_from_its_beginning(
    consumer: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    faust_fixes.apply()
    stream, committed, changelog, seeks = uncommitted_partitions(consumer, monkeypatch)
    await asyncio.wait_for(consumer.perform_seek(), STEP_TIMEOUT_S)
    assert seeks == [(stream, 0)]
    assert all(tp not in (committed, changelog) for tp, _ in seeks)
    assert consumer._read_offset[stream] is None
    assert consumer._committed_offset[committed] == 42
    # Its first message must be the log's first, as one of a committed partition must be
    # at the committed offset: a fetch that starts later skipped records.
    assert faust_fixes.next_offsets(consumer) == {stream: 7}


@pytest.mark.asyncio
async def test_faust_keeps_fetching_during_a_workers_first_rebalance(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = await first_rebalance(tmp_path, monkeypatch)
    await asyncio.wait_for(faust_fixes.ORIGINAL_ON_PARTITIONS_REVOKED(app, set()), STEP_TIMEOUT_S)
    # Records of the partitions about to be assigned are taken in before faust pauses
    # them, and reach the agents as soon as recovery resumes the flow to read changelogs.
    assert app.consumer.flow_active


@pytest.mark.asyncio
async def test_leadq_stops_fetching_during_a_workers_first_rebalance(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    faust_fixes.apply()
    app = await first_rebalance(tmp_path, monkeypatch)
    await asyncio.wait_for(app._on_partitions_revoked(set()), STEP_TIMEOUT_S)
    assert not app.consumer.flow_active  # recovery resumes it once the partitions are paused
    assert not app.flow_control.is_active()


# -- holes in a stream partition ----------------------------------------------------------


@pytest.mark.asyncio
async def test_a_partition_that_skipped_records_is_read_again_from_the_hole(
    consumer: Any, seeks: list[tuple[TP, int]], monkeypatch: pytest.MonkeyPatch
) -> None:
    consumer._committed_offset[EVENTS] = 86
    # The storm run's case: committed 86, the first message after a rebalance was 584.
    # faust would book 87..583 as a gap (acked) and commit past them.
    monkeypatch.setattr(faust_fixes, "ORIGINAL_GETMANY", fetch_returning(584, 585))
    assert await delivered(consumer) == []
    assert seeks == [(EVENTS, 86)]  # once per hole, not once per message after it
    monkeypatch.setattr(faust_fixes, "ORIGINAL_GETMANY", fetch_returning(86, 87, 88))
    assert await delivered(consumer) == [86, 87, 88]
    # A hole later on, within the same assignment, too.
    monkeypatch.setattr(faust_fixes, "ORIGINAL_GETMANY", fetch_returning(89, 95))
    assert await delivered(consumer) == [89]
    assert seeks == [(EVENTS, 86), (EVENTS, 90)]


@pytest.mark.asyncio
async def test_messages_in_order_pass_and_a_partition_never_sought_is_not_checked(
    consumer: Any, seeks: list[tuple[TP, int]], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Never committed, and not sought to its log start (auto_offset_reset "latest"): its
    # first message may be any.
    monkeypatch.setattr(faust_fixes, "ORIGINAL_GETMANY", fetch_returning(40, 41, 42))
    assert await delivered(consumer) == [40, 41, 42]
    # An older message (from before a seek) is faust's to drop; 43 comes right after 42.
    monkeypatch.setattr(faust_fixes, "ORIGINAL_GETMANY", fetch_returning(41, 43))
    assert await delivered(consumer) == [41, 43]
    assert seeks == []


@pytest.mark.asyncio
async def test_a_partition_read_from_its_start_that_skipped_records_is_read_again(
    consumer: Any, seeks: list[tuple[TP, int]], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Never committed: perform_seek sought it to its log start, 0, and a first message
    # past it is a hole (0 is not "no offset").
    faust_fixes.next_offsets(consumer)[EVENTS] = 0
    monkeypatch.setattr(faust_fixes, "ORIGINAL_GETMANY", fetch_returning(3, 4))
    assert await delivered(consumer) == []
    assert seeks == [(EVENTS, 0)]
    monkeypatch.setattr(faust_fixes, "ORIGINAL_GETMANY", fetch_returning(0, 1, 2, 3))
    assert await delivered(consumer) == [0, 1, 2, 3]


@pytest.mark.asyncio
async def test_records_deleted_by_retention_are_not_sought_again_and_again(
    consumer: Any,
    seeks: list[tuple[TP, int]],
    log_start: dict[TP, int],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    consumer._committed_offset[EVENTS] = 86
    log_start[EVENTS] = 500  # a seek to 86 lands at 500 again: gone, not skipped
    monkeypatch.setattr(faust_fixes, "ORIGINAL_GETMANY", fetch_returning(500, 501))
    assert await delivered(consumer) == [500, 501]
    assert seeks == []


# -- the worker consumer's fetch wait ------------------------------------------------------


async def created_worker_consumer(consumer: Any, create: Any) -> Any:
    """The aiokafka consumer faust's consumer thread creates for a worker, through
    `create` (faust's _create_worker_consumer, or the class's current one)."""
    thread = consumer._thread  # faust's AIOKafkaConsumerThread, not started
    return create(thread, thread.transport)


@pytest.mark.asyncio
async def test_faust_creates_its_worker_consumer_with_a_long_fetch_wait(consumer: Any) -> None:
    created = await created_worker_consumer(consumer, faust_fixes.ORIGINAL_CREATE_WORKER_CONSUMER)
    try:
        assert created._fetch_max_wait_ms == 1500  # a low-load fetch can wait that long
    finally:
        await created.stop()


@pytest.mark.asyncio
async def test_leadq_creates_its_worker_consumer_with_a_short_fetch_wait(consumer: Any) -> None:
    faust_fixes.apply()
    thread_class = type(consumer._thread)
    created = await created_worker_consumer(consumer, thread_class._create_worker_consumer)
    try:
        assert created._fetch_max_wait_ms == faust_fixes.FETCH_MAX_WAIT_MS == 20
        assert created._group_id == consumer.app.conf.id  # otherwise faust's consumer
    finally:
        await created.stop()


# -- the producer buffer's sends -----------------------------------------------------------


@pytest.mark.asyncio
async def test_a_buffered_send_is_tracked_until_it_is_acknowledged(consumer: Any) -> None:
    faust_fixes.apply()
    tracker = faust_fixes.send_tracker(consumer.app.producer.buffer)
    write = buffered_write(consumer)
    assert tracker.unacked == {write}
    write.set_result("acknowledged")
    await asyncio.sleep(0)  # done callbacks run on the next turn of the loop
    assert tracker.unacked == set()
    assert await tracker.all_acknowledged(timeout_s=0.0)


# -- the faust-streaming version -----------------------------------------------------------


@pytest.mark.parametrize("version", ["0.14.9", "0.15.2", "0.16.0", "1.0.0"])
def test_apply_refuses_a_faust_streaming_it_was_not_written_for(
    version: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(faust_fixes, "installed_version", lambda: version)
    with pytest.raises(faust_fixes.UnsupportedFaustVersion) as refused:
        faust_fixes.apply()
    message = str(refused.value)
    assert "\n" not in message
    assert f"faust-streaming {version} is installed" in message
    assert ">=0.15.3,<0.16" in message


@pytest.mark.parametrize("version", ["0.15.3", "0.15.10", "0.15.4rc1"])
def test_apply_accepts_the_supported_faust_streaming_releases(
    version: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(faust_fixes, "installed_version", lambda: version)
    faust_fixes.apply()  # does not raise


def test_the_installed_faust_streaming_is_supported() -> None:
    installed = importlib.metadata.version("faust-streaming")
    assert faust_fixes.installed_version() == installed
    faust_fixes.check_version(installed)
