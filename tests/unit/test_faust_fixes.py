"""faust#606 and faust#316 on faust's real consumer code: the bug, then leadq's fix."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from faust.types import TP

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
