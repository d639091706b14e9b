"""Pending records of the qualify agent: the states to store, and faust's current event."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest
from faust.streams import current_event

from streams.core.state import LeadState
from streams.worker.pipeline import (
    AHEAD_RECORDS,
    AHEAD_SENDS,
    Applied,
    Pending,
    processing,
    records_waiting,
)


def applied(name: str, **states: int) -> Applied:
    """A record named `name` that left each lead (keyword) at a sequence number."""
    event = SimpleNamespace(name=name)
    return Applied(
        event=event,
        states={key.encode(): LeadState(key=key, sequence=seq) for key, seq in states.items()},
        changes=[],
        forward=[],
        sent=[],
    )


def test_later_records_see_the_latest_pending_state_of_a_lead() -> None:
    pending = Pending()
    pending.add(applied("r1", a=1, b=1))
    pending.add(applied("r2", a=2))
    assert {key: state.sequence for key, state in pending.states.items()} == {b"a": 2, b"b": 1}


def test_each_lead_is_stored_once_with_its_latest_state_and_the_event_that_left_it() -> None:
    pending = Pending()
    pending.add(applied("r1", a=1, b=1))
    pending.add(applied("r2", a=2))
    pending.add(applied("r3", c=1))
    stored = {key: (event.name, state.sequence) for event, key, state in pending.final_states()}
    assert stored == {b"a": ("r2", 2), b"b": ("r1", 1), b"c": ("r3", 1)}
    pending.clear()
    assert (pending.records, pending.states) == ([], {})


def test_processing_makes_an_event_faust_current_for_a_moment() -> None:
    class Event:  # faust keeps a weak reference to the current event
        pass

    outer, inner = Event(), Event()
    with processing(outer):
        with processing(inner):
            assert current_event() is inner
        assert current_event() is outer
    assert current_event() is None


def test_records_are_waiting_while_the_channel_queue_has_some() -> None:
    queue: asyncio.Queue[Any] = asyncio.Queue()
    stream = SimpleNamespace(channel=SimpleNamespace(queue=queue))
    assert not records_waiting(stream)
    queue.put_nowait("record")
    assert records_waiting(stream)
    assert not records_waiting(SimpleNamespace(channel=object()))  # no queue: never wait


@pytest.mark.asyncio
async def test_pending_is_full_at_its_bound_of_records_or_of_sends() -> None:
    pending = Pending()
    for n in range(AHEAD_RECORDS - 1):
        pending.add(applied(f"r{n}", a=n))
    assert not pending.full()
    pending.add(applied("last", a=AHEAD_RECORDS))
    assert pending.full()
    pending.clear()
    sending = applied("sends", a=1)
    loop = asyncio.get_running_loop()
    sending.sent = [loop.create_future() for _ in range(AHEAD_SENDS)]
    pending.add(sending)
    assert pending.full()


def fetched(generation: int) -> SimpleNamespace:
    """An event whose message was fetched in a consumer generation."""
    return SimpleNamespace(message=SimpleNamespace(generation_id=generation))


def test_records_of_another_consumer_generation_do_not_join_the_batch() -> None:
    pending = Pending()
    assert pending.takes(fetched(3))
    first = applied("r1", a=1)
    first.event = fetched(3)
    pending.add(first)
    assert pending.takes(fetched(3))
    # Fetched after a rebalance: the batch before it must be finished (stored, or dropped
    # whole if it is stale) first, or the new record would be dropped along with it.
    assert not pending.takes(fetched(4))
    pending.clear()
    assert pending.takes(fetched(4))
