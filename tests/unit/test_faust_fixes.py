"""faust#606 and faust#316 on faust's real consumer code: the bug, then leadq's fix."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from faust.types import TP, Message

from streams import faust_fixes
from streams.app import build
from streams.settings import Settings

TOPIC = TP("leads.website", 0)


@dataclass(frozen=True)
class InFlight:
    tp: TP
    offset: int


@pytest.fixture
def consumer(tmp_path: Any) -> Any:
    return build(Settings(topic_prefix="fixes.", data_dir=tmp_path, store="memory://")).app.consumer


def head_gap_state(consumer: Any) -> InFlight:
    """The faust#606 report: offset 2585 still processing, 2586..2589 already acked."""
    consumer._committed_offset[TOPIC] = 2585
    consumer._acked[TOPIC] = [2586, 2587, 2588, 2589]
    consumer._acked_index[TOPIC] = {2586, 2587, 2588, 2589}
    message = InFlight(TOPIC, 2585)  # faust keeps in-flight messages in a WeakSet
    consumer._unacked_messages.add(message)
    return message


def test_faust_would_commit_past_the_in_flight_message(consumer: Any) -> None:
    head_gap_state(consumer)
    assert faust_fixes.ORIGINAL_NEW_OFFSET(consumer, TOPIC) == 2590  # 2585 would be lost


def test_leadq_never_commits_past_the_in_flight_message(consumer: Any) -> None:
    assert faust_fixes.apply()
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
    agents = [worker.qualify, *worker.ingest.values()]
    assert all(agent.concurrency == 1 for agent in agents)


def fetched(offset: int, generation: int) -> Message:
    return Message(
        TOPIC.topic, TOPIC.partition, offset, 0.0, 0, None, b"k", b"v", None,
        tp=TOPIC, generation_id=generation,
    )  # fmt: skip


def stale_ack_after_rebalance(consumer: Any, ack: Any) -> None:
    """Generation 1 fetched 100..119 and processed 100..104; then a rebalance (generation 2)
    gives the partition back to this worker, which re-reads from the commit at 105. The
    stream skips the buffered old messages 110..119, acking them on the way out."""
    consumer.app.topics._acking_topics.add(TOPIC.topic)  # as the conductor does at start
    consumer.app.consumer_generation_id = 2
    consumer.app.flow_control.resume()
    for offset in range(110, 120):
        ack(consumer, fetched(offset, generation=1))
    for offset in range(105, 108):  # generation 2 has processed 105..107 so far
        ack(consumer, fetched(offset, generation=2))


def test_faust_would_commit_past_messages_skipped_in_a_rebalance(consumer: Any) -> None:
    stale_ack_after_rebalance(consumer, faust_fixes.ORIGINAL_ACK)
    consumer._acked[TOPIC].extend([108, 109])
    consumer._acked_index[TOPIC].update([108, 109])
    # 110..119 were never processed in generation 2, yet faust would commit past them.
    assert faust_fixes.ORIGINAL_NEW_OFFSET(consumer, TOPIC) == 120


def test_leadq_books_only_acks_of_the_current_generation(consumer: Any) -> None:
    assert faust_fixes.apply()
    stale_ack_after_rebalance(consumer, type(consumer).ack)
    assert consumer._new_offset(TOPIC) == 108  # processed in this generation: 105..107
    for offset in range(108, 120):  # read again and processed in generation 2
        consumer.ack(fetched(offset, generation=2))
    assert consumer._new_offset(TOPIC) == 120


def test_leadq_does_not_book_acks_while_the_flow_is_suspended(consumer: Any) -> None:
    assert faust_fixes.apply()
    consumer.app.topics._acking_topics.add(TOPIC.topic)
    consumer.app.consumer_generation_id = 3
    consumer.app.flow_control.suspend()  # a rebalance has started
    consumer.ack(fetched(50, generation=3))
    assert consumer._acked[TOPIC] == []
    assert consumer._new_offset(TOPIC) is None
