"""The timer's due index: rebuilt from stored states, clocked by event time or wall time."""

from __future__ import annotations

import pytest

from streams.core.qualify import Qualifier
from streams.core.state import LeadState
from streams.worker.codec import encode_state
from streams.worker.timers import DueIndex, encode_tick, tick_time, wall_ms
from tests.support.timed_rules import at, timed


def sql_state(q: Qualifier, lead: str) -> LeadState:
    events = [
        at(f"{lead}-w1", "webinar_attended", 0, lead=lead, webinar="a"),
        at(f"{lead}-w2", "webinar_attended", 1, lead=lead, webinar="b"),
    ]
    state, _ = q.fold(events, lead)
    assert state.stage == "sql"
    return state


def test_ticks_round_trip_and_are_told_apart_from_events() -> None:
    assert tick_time(encode_tick(123)) == 123
    assert tick_time(b'{"i":"e1","t":"page_view"}') is None


@pytest.mark.asyncio
async def test_a_rescan_finds_due_leads_and_the_event_clock_decides_when() -> None:
    q = timed()
    state = sql_state(q, "A")
    idle = LeadState(key="B", clock_ms=state.clock_ms)
    due = q.next_due_ms(state)
    assert due is not None
    index = DueIndex(q, rescan_s=3600)
    sent: list[tuple[bytes, bytes]] = []

    async def send(key: bytes, value: bytes) -> None:
        sent.append((key, value))

    items = [(b"A", encode_state(state)), (b"B", encode_state(idle))]
    # The rescan also sets the event clock from the stored states: not yet due.
    assert await index.run_once(lambda: items, send) == 0
    assert index.due == {b"A": due}
    assert index.stream_ms == state.clock_ms
    index.observe(due - 1)
    assert await index.run_once(lambda: items, send) == 0
    index.observe(due)
    assert await index.run_once(lambda: items, send) == 1
    assert sent == [(b"A", encode_tick(due))]
    # Taken until the agent stores the lead again.
    assert index.due == {}
    index.update(b"A", None)
    assert index.due == {}


@pytest.mark.asyncio
async def test_the_wall_clock_timer_ticks_leads_due_in_the_past() -> None:
    q = timed()
    index = DueIndex(q, rescan_s=3600, wall_clock=True)
    index.update(b"A", wall_ms() - 1)
    index.update(b"B", wall_ms() + 3_600_000)
    index.next_scan = float("inf")
    sent: list[bytes] = []

    async def send(key: bytes, value: bytes) -> None:
        sent.append(key)

    assert await index.run_once(lambda: [], send) == 1
    assert sent == [b"A"]
    assert list(index.due) == [b"B"]
