"""The timer's due index: rebuilt from stored states, clocked by event time or wall time."""

from __future__ import annotations

import random
from collections.abc import Iterator

import pytest

from streams.core.qualify import Qualifier
from streams.core.state import LeadState
from streams.worker.codec import encode_state
from streams.worker.timers import (
    TICK_RECORD_LEADS,
    DueIndex,
    Tick,
    decode_record,
    encode_tick,
    tick_body,
    tick_records,
)
from streams.worker.topics import partition_of
from streams.worker.wall_clock import wall_ms
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
    assert tick_body(encode_tick(123)) == {"tick": 123}
    assert tick_body(encode_tick(123, ["A", "B"])) == {"tick": 123, "keys": ["A", "B"]}
    assert tick_body(b'{"i":"e1","t":"page_view"}') is None


def test_a_tick_record_ticks_each_of_its_leads_or_else_its_key() -> None:
    assert decode_record(encode_tick(5, ["A", "B"]), None) == [("A", Tick(5)), ("B", Tick(5))]
    # A tick record of one lead, keyed by it (as leadq sent ticks before it batched them).
    assert decode_record(encode_tick(5), b"C") == [("C", Tick(5))]


def test_due_leads_get_one_tick_record_per_partition_of_bounded_size() -> None:
    partitions = 4
    keys = [f"L-{n}".encode() for n in range(1_000)]
    records = tick_records(7, keys, partitions)
    ticked: list[str] = []
    for record in records:
        assert record["key"] is None
        items = decode_record(record["value"], None)
        assert 0 < len(items) <= TICK_RECORD_LEADS
        assert {item for _, item in items} == {Tick(7)}
        # Each lead's tick goes to the partition of its key, where its state lives.
        assert {partition_of(k.encode(), partitions) for k, _ in items} == {record["partition"]}
        ticked += [k for k, _ in items]
    assert sorted(ticked) == sorted(k.decode() for k in keys)
    # Full records only, but for the last of each partition.
    assert len(records) == sum(
        -(-sum(1 for k in keys if partition_of(k, partitions) == p) // TICK_RECORD_LEADS)
        for p in range(partitions)
    )


@pytest.mark.asyncio
async def test_a_rescan_finds_due_leads_and_the_event_clock_decides_when() -> None:
    q = timed()
    state = sql_state(q, "A")
    idle = LeadState(key="B", clock_ms=state.clock_ms)
    due = q.next_due_ms(state)
    assert due is not None
    index = DueIndex(q, rescan_s=3600)
    sent: list[tuple[int, list[bytes]]] = []

    async def send(now_ms: int, keys: list[bytes]) -> None:
        sent.append((now_ms, keys))

    items = [(b"A", encode_state(state)), (b"B", encode_state(idle))]
    # The rescan also sets the event clock from the stored states: not yet due.
    assert await index.run_once(lambda: [items], send) == 0
    assert index.due == {b"A": due}
    assert index.stream_ms == state.clock_ms
    index.observe(due - 1)
    assert await index.run_once(lambda: [items], send) == 0
    index.observe(due)
    assert await index.run_once(lambda: [items], send) == 1
    assert sent == [(due, [b"A"])]
    # Taken until the agent stores the lead again.
    assert index.due == {}
    index.update(b"A", None)
    assert index.due == {}


@pytest.mark.asyncio
async def test_a_due_time_recorded_while_a_rescan_runs_wins_over_the_scanned_state() -> None:
    q = timed()
    a, b = sql_state(q, "A"), sql_state(q, "B")
    index = DueIndex(q, rescan_s=3600)

    def slices() -> Iterator[list[tuple[bytes, bytes]]]:
        yield [(b"A", encode_state(a))]
        # Between slices (the event loop ran): A was stored again with nothing due, and
        # C was stored for the first time.
        index.update(b"A", None)
        index.update(b"C", 7)
        yield [(b"B", encode_state(b))]

    await index.rescan(slices())
    assert index.due == {b"B": q.next_due_ms(b), b"C": 7}
    assert index.updated is None  # what happens after the rescan is not recorded twice


@pytest.mark.asyncio
async def test_a_rebalance_during_a_rescan_asks_for_another_at_the_next_round() -> None:
    q = timed()
    index = DueIndex(q, rescan_s=3600)

    async def send(now_ms: int, keys: list[bytes]) -> None:
        pass

    def slices() -> Iterator[list[tuple[bytes, bytes]]]:
        yield [(b"A", encode_state(sql_state(q, "A")))]
        index.rescan_soon()  # the rebalance's recovery ended while the scan ran
        yield []

    await index.run_once(slices, send)
    assert index.next_scan == 0.0


@pytest.mark.asyncio
async def test_the_wall_clock_timer_ticks_leads_due_in_the_past() -> None:
    q = timed()
    index = DueIndex(q, rescan_s=3600, wall_clock=True)
    index.update(b"A", wall_ms() - 1)
    index.update(b"B", wall_ms() + 3_600_000)
    index.next_scan = float("inf")
    sent: list[bytes] = []

    async def send(now_ms: int, keys: list[bytes]) -> None:
        sent.extend(keys)

    assert await index.run_once(lambda: [], send) == 1
    assert sent == [b"A"]
    assert list(index.due) == [b"B"]


def test_a_round_takes_exactly_the_leads_due_by_then_however_often_their_times_changed() -> None:
    index = DueIndex(timed(), rescan_s=3600)
    model: dict[bytes, int] = {}  # what `due` means: each lead's latest due time
    rng = random.Random(7)
    now = 0
    for step in range(20_000):
        key = f"L-{rng.randrange(300)}".encode()
        when = None if rng.random() < 0.1 else now + rng.randrange(1, 500)
        index.update(key, when)
        if when is None:
            model.pop(key, None)
        else:
            model[key] = when
        if step % 50 == 0:
            now += 100
            expected = sorted(k for k, w in model.items() if w <= now)
            assert sorted(index.take_due(now)) == expected
            for k in expected:
                del model[k]
            assert index.due == model
    # Replaced due times do not pile up.
    assert len(index.soonest) <= 2 * len(index.due) + 1024


YEAR_2099_MS = 4_070_908_800_000  # 2099-01-01T00:00:00Z


def test_the_event_clock_never_runs_ahead_of_the_wall_clock() -> None:
    index = DueIndex(timed(), rescan_s=3600)
    index.observe(YEAR_2099_MS)
    now = index.now_ms()
    assert now is not None
    assert now <= wall_ms()


def test_one_lead_dated_in_the_future_does_not_make_another_lead_due() -> None:
    q = timed()
    state = sql_state(q, "A")
    index = DueIndex(q, rescan_s=3600)
    index.observe(state.clock_ms)
    # A is due one hour from now on the wall clock; lead B's event is dated 2099.
    index.update(b"A", wall_ms() + 3_600_000)
    index.observe(YEAR_2099_MS)
    now = index.now_ms()
    assert now is not None
    assert index.take_due(now) == []
    assert list(index.due) == [b"A"]


def test_while_input_waits_the_clock_is_the_event_time_of_what_was_processed() -> None:
    index = DueIndex(timed(), rescan_s=3600, input_idle=lambda: False)
    assert index.now_ms() is None
    index.observe(1_000)
    index.observe(500)  # an older event does not move the clock back
    assert index.now_ms() == 1_000


def test_once_the_input_is_read_to_its_end_the_clock_is_the_wall_clock() -> None:
    idle = [False]
    index = DueIndex(timed(), rescan_s=3600, input_idle=lambda: idle[0])
    index.observe(1_000)
    assert index.now_ms() == 1_000
    idle[0] = True
    before = wall_ms()
    now = index.now_ms()
    assert now is not None
    assert before <= now <= wall_ms()
    idle[0] = False  # new input: history is judged by its own time again
    assert index.now_ms() == 1_000
