"""Pending records of the qualify agent: the states to store, bounds, consumer generations."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import faust
import pytest
from faust.types import TP, EventT, Message

from streams.core.state import LeadState
from streams.worker.pipeline import AHEAD_RECORDS, AHEAD_SENDS, Applied, Pending, records_waiting

EVENTS = TP("leadq.events-by-lead", 0)


@pytest.fixture(scope="module")
def app() -> faust.App:
    """An app for faust's real events, channels and streams (never started)."""
    return faust.App("pipeline-tests", broker="kafka://127.0.0.1:1")


def fetched(app: faust.App, offset: int = 0, generation: int = 1) -> EventT:
    """A by-lead record's event, its message fetched in a consumer generation."""
    message = Message(
        EVENTS.topic, EVENTS.partition, offset, 0.0, 0, None, None, b"[]", None,
        tp=EVENTS, generation_id=generation,
    )  # fmt: skip
    return faust.Event(app, None, b"[]", None, message)


def applied(event: EventT, **states: int) -> Applied:
    """A record's event that left each lead (keyword) at a sequence number."""
    return Applied(
        event=event,
        states={key.encode(): LeadState(key=key, sequence=seq) for key, seq in states.items()},
        changes=[],
        forward=[],
        sent=[],
    )


def test_later_records_see_the_latest_pending_state_of_a_lead(app: faust.App) -> None:
    pending = Pending()
    pending.add(applied(fetched(app, 1), a=1, b=1))
    pending.add(applied(fetched(app, 2), a=2))
    assert {key: state.sequence for key, state in pending.states.items()} == {b"a": 2, b"b": 1}


def test_each_lead_is_stored_once_with_its_latest_state_and_the_event_that_left_it(
    app: faust.App,
) -> None:
    r1, r2, r3 = (fetched(app, offset) for offset in (1, 2, 3))
    names = {id(r1): "r1", id(r2): "r2", id(r3): "r3"}
    pending = Pending()
    pending.add(applied(r1, a=1, b=1))
    pending.add(applied(r2, a=2))
    pending.add(applied(r3, c=1))
    stored = {
        key: (names[id(event)], state.sequence) for event, key, state in pending.final_states()
    }
    assert stored == {b"a": ("r2", 2), b"b": ("r1", 1), b"c": ("r3", 1)}
    pending.clear()
    assert (pending.records, pending.states) == ([], {})


def test_records_are_waiting_while_the_channel_queue_has_some(app: faust.App) -> None:
    stream = app.stream(app.channel())  # the stream reads a clone of the channel
    assert not records_waiting(stream)
    stream.channel.queue.put_nowait(fetched(app))
    assert records_waiting(stream)


def test_a_stream_without_a_queue_never_has_records_waiting(app: faust.App) -> None:
    async def records() -> AsyncIterator[bytes]:
        yield b"[]"

    assert not records_waiting(app.stream(records()))


@pytest.mark.asyncio
async def test_pending_is_full_at_its_bound_of_records_or_of_sends(app: faust.App) -> None:
    pending = Pending()
    for n in range(AHEAD_RECORDS - 1):
        pending.add(applied(fetched(app, n), a=n))
    assert not pending.full()
    pending.add(applied(fetched(app, AHEAD_RECORDS), a=AHEAD_RECORDS))
    assert pending.full()
    pending.clear()
    sending = applied(fetched(app), a=1)
    loop = asyncio.get_running_loop()
    sending.sent = [loop.create_future() for _ in range(AHEAD_SENDS)]
    pending.add(sending)
    assert pending.full()


def test_records_of_another_consumer_generation_do_not_join_the_batch(app: faust.App) -> None:
    pending = Pending()
    assert pending.takes(fetched(app, generation=3))
    pending.add(applied(fetched(app, generation=3), a=1))
    assert pending.takes(fetched(app, generation=3))
    # Fetched after a rebalance: the batch before it must be finished (stored, or dropped
    # whole if it is stale) first, or the new record would be dropped along with it.
    assert not pending.takes(fetched(app, generation=4))
    pending.clear()
    assert pending.takes(fetched(app, generation=4))
