"""States of faust's real consumer for the faust_fixes tests: acks, commits, seeks, fetches."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import pytest
from faust.types import TP, Message

from streams.settings import Settings
from streams.worker.app import build
from streams.worker.faust_ext import fixes as faust_fixes

TOPIC = TP("leads.website", 0)
EVENTS = TP("leadq.events-by-lead", 0)


@dataclass(frozen=True)
class InFlight:
    tp: TP
    offset: int


def head_gap_state(consumer: Any) -> InFlight:
    """The faust#606 report: offset 2585 still processing, 2586..2589 already acked."""
    consumer._committed_offset[TOPIC] = 2585
    consumer._acked[TOPIC] = [2586, 2587, 2588, 2589]
    consumer._acked_index[TOPIC] = {2586, 2587, 2588, 2589}
    message = InFlight(TOPIC, 2585)  # faust keeps in-flight messages in a WeakSet
    consumer._unacked_messages.add(message)
    return message


def fetched(offset: int, generation: int, tp: TP = TOPIC) -> Message:
    return Message(
        tp.topic, tp.partition, offset, 0.0, 0, None, b"k", b"v", None,
        tp=tp, generation_id=generation,
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


def committing(consumer: Any, monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Make the consumer's commit record the offsets it commits instead of sending them."""
    commits: list[Any] = []

    async def flush() -> None:
        return None

    async def commit(offsets: Any) -> bool:
        commits.append(dict(offsets))
        return True

    monkeypatch.setattr(consumer.app.producer, "flush", flush)
    monkeypatch.setattr(consumer, "_commit", commit)
    monkeypatch.setattr(consumer, "assignment", lambda: {TOPIC})
    consumer._committed_offset[TOPIC] = 100
    return commits


def buffered_write(consumer: Any) -> asyncio.Future[Any]:
    """A changelog write put in faust's producer buffer, not yet acknowledged."""
    write: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    consumer.app.producer.buffer.put(write)
    return write


def uncommitted_partitions(
    consumer: Any, monkeypatch: pytest.MonkeyPatch
) -> tuple[TP, TP, TP, list[tuple[TP, int]]]:
    """An assignment of a stream partition never committed, one committed at 42, and a
    changelog partition; the seeks the consumer makes on top of aiokafka's."""
    stream, committed = TP("fixes.leadq.events-by-lead", 1), TP("fixes.leadq.events-by-lead", 2)
    changelog = TP(next(iter(consumer.app.tables.changelog_topics)), 1)
    seeks: list[tuple[TP, int]] = []

    async def seek_to_committed() -> dict[TP, int | None]:
        return {stream: None, committed: 42, changelog: None}

    async def seek(tp: TP, offset: int) -> None:
        seeks.append((tp, offset))

    async def earliest_offsets(*tps: TP) -> dict[TP, int]:
        return {tp: 7 for tp in tps}  # retention deleted offsets 0..6

    monkeypatch.setattr(consumer, "seek_to_committed", seek_to_committed)
    monkeypatch.setattr(consumer, "_seek", seek)
    monkeypatch.setattr(consumer, "earliest_offsets", earliest_offsets)
    monkeypatch.setattr(consumer, "assignment", lambda: {stream, committed, changelog})
    return stream, committed, changelog, seeks


async def first_rebalance(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """A fresh worker's app (built on this test's loop), its consumer's flow on as at
    start, with no partitions yet."""
    settings = Settings(topic_prefix="fixes.", data_dir=tmp_path, store="memory://")
    app = build(settings).app
    monkeypatch.setattr(app.consumer, "assignment", set)
    assert app.consumer.flow_active
    return app


def fetch_returning(*offsets: int) -> Any:
    """A stand-in for faust's getmany that yields messages of EVENTS at these offsets."""

    async def getmany(self: Any, timeout: float) -> Any:
        for offset in offsets:
            yield EVENTS, fetched(offset, generation=1, tp=EVENTS)

    return getmany


async def delivered(consumer: Any) -> list[int]:
    return [m.offset async for _, m in faust_fixes._getmany_without_holes(consumer, 1.0)]
