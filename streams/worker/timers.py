"""Time-driven changes in the shell: due leads, tick records, applying a by-lead record."""

from __future__ import annotations

import asyncio
import heapq
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Final

import faust
import orjson

from streams.core.events import LeadEvent
from streams.core.qualify import Decision, Qualifier
from streams.core.state import LeadState
from streams.worker.batching import REKEY_RECORD_EVENTS
from streams.worker.codec import decode_rekeyed, decode_state
from streams.worker.failstop import retry_or_stop
from streams.worker.faust_ext.local_store import LocalStore
from streams.worker.topics import partition_of
from streams.worker.wall_clock import wall_ms

log = logging.getLogger(__name__)

_TICK_PREFIX = b'{"tick":'
# A tick record names at most this many leads (as an events-by-lead record holds at most
# this many events: the qualify agent stores up to one state per item of a record).
TICK_RECORD_LEADS: Final = REKEY_RECORD_EVENTS
# A rescan decodes this many stored states between turns of the event loop: done in one go,
# the first rescan of a worker holding 6,000 leads held up the stage changes behind it by
# 25 ms, and one of 1,000,000 leads would hold them up for seconds.
RESCAN_SLICE: Final = 256


def encode_tick(now_ms: int, keys: Sequence[str] | None = None) -> bytes:
    """A tick record for the by-lead topic: 'apply what is due by now_ms' to each of `keys`
    (leads of one partition), or without `keys`, to the record's key."""
    if keys is None:
        return orjson.dumps({"tick": now_ms})
    return orjson.dumps({"tick": now_ms, "keys": list(keys)})


def tick_body(raw: bytes) -> dict[str, Any] | None:
    """A tick record's fields, or None for an event record."""
    if not raw.startswith(_TICK_PREFIX):
        return None
    body: dict[str, Any] = orjson.loads(raw)
    return body


@dataclass(frozen=True, slots=True)
class Tick:
    """A timer tick for one key: apply the time-driven changes due by now_ms."""

    now_ms: int


def decode_record(raw: bytes, key: bytes | None) -> list[tuple[str, LeadEvent | Tick]]:
    """The (key, event or tick) items of a by-lead record, in order: a batch of re-keyed
    events, one handed-over event, a timer tick for each of its leads, or (as leadq wrote
    them before it batched ticks) a timer tick for the record's key."""
    body = tick_body(raw)
    if body is None:
        return list(decode_rekeyed(raw, key))
    tick = Tick(int(body["tick"]))
    keys = body.get("keys")
    if keys is None:
        return [((key or b"").decode(), tick)]
    return [(str(lead), tick) for lead in keys]


def process_item(
    qualifier: Qualifier, state: LeadState, item: LeadEvent | Tick, seen_ms: int | None = None
) -> Decision:
    """What an item of a by-lead record does to a state: an event is processed (seen at
    seen_ms, the wall clock by default: the SLA backlog rule); a tick applies the
    time-driven changes and SLA events due by its time."""
    if isinstance(item, LeadEvent):
        return qualifier.process(state, item, wall_ms() if seen_ms is None else seen_ms)
    if state.sequence == 0:  # a tick for a lead this worker has no state for
        return Decision(state)
    return qualifier.tick(state, item.now_ms)


class DueIndex:
    """When each lead of this worker is next due for a time-driven change.

    Kept up to date as the qualify agent stores states; rebuilt from the table's local
    partitions now and then (states recovered from the changelog are not seen otherwise).
    A timer must not write the table: it only sends a tick per due lead to the by-lead
    topic, and the qualify agent applies it while processing that record.

    The timer's clock is either the wall clock or, by default, event time bounded by the
    wall clock (see docs/rules.md, "Time-driven changes"): while input waits to be read,
    `stream_ms`, the latest event time this worker has processed (as Kafka Streams'
    stream-time punctuation, so a backlog of old history is judged by its own time); once
    the input is read to its end (`input_idle`), the wall clock, so a live worker makes
    time-driven changes on time when its traffic stops. Never ahead of the wall clock:
    one lead's event dated in the future cannot make another lead due early.
    """

    def __init__(
        self,
        qualifier: Qualifier,
        rescan_s: float,
        wall_clock: bool = False,
        input_idle: Callable[[], bool] = lambda: False,
    ) -> None:
        self.qualifier = qualifier
        self.rescan_s = rescan_s
        self.wall_clock = wall_clock
        self.input_idle = input_idle
        self.due: dict[bytes, int] = {}
        # (due time, key) of every entry of `due`, soonest first, and of due times replaced
        # since (left out when they come up): a round takes what is due without looking at
        # the leads that are not.
        self.soonest: list[tuple[int, bytes]] = []
        self.next_scan = 0.0
        self.stream_ms: int | None = None
        # While a rescan runs: the due times recorded meanwhile, which win over the scan's.
        self.updated: dict[bytes, int | None] | None = None

    def observe(self, at_ms: int | None) -> None:
        """Move the event-time clock on to an event time (or a lead's clock)."""
        if at_ms is not None and (self.stream_ms is None or at_ms > self.stream_ms):
            self.stream_ms = at_ms

    def now_ms(self) -> int | None:
        """The timer's current time (None: no event time seen yet)."""
        wall = wall_ms()
        if self.wall_clock or (self.stream_ms is not None and self.input_idle()):
            return wall
        return None if self.stream_ms is None else min(self.stream_ms, wall)

    def update(self, key: bytes, due_ms: int | None) -> None:
        """Record a lead's next due time (None: nothing due)."""
        if due_ms is None:
            self.due.pop(key, None)
        elif self.due.get(key) != due_ms:
            self.due[key] = due_ms
            heapq.heappush(self.soonest, (due_ms, key))
            if len(self.soonest) > 2 * len(self.due) + 1024:
                self._index()  # mostly replaced due times
        if self.updated is not None:
            self.updated[key] = due_ms

    async def rescan(self, slices: Iterable[Iterable[tuple[bytes, bytes]]]) -> None:
        """Rebuild from (key, encoded state) pairs of the local table partitions, given in
        slices, letting other tasks run after each; a due time recorded meanwhile wins over
        the one of the state the scan read."""
        due: dict[bytes, int] = {}
        self.updated = {}
        try:
            for items in slices:
                for key, raw in items:
                    state = decode_state(raw)
                    self.observe(state.clock_ms)
                    when = self.qualifier.next_due_ms(state)
                    if when is not None:
                        due[key] = when
                await asyncio.sleep(0)
            for key, when in self.updated.items():
                if when is None:
                    due.pop(key, None)
                else:
                    due[key] = when
            self.due = due
            self._index()
        finally:
            self.updated = None

    def rescan_soon(self) -> None:
        """Rescan at the next round (after a rebalance: the leads of partitions assigned or
        recovered anew are known only from their stored states)."""
        self.next_scan = 0.0

    def take_due(self, now_ms: int) -> list[bytes]:
        """The leads due by now_ms, removed until their state is stored again."""
        keys = []
        due, soonest = self.due, self.soonest
        while soonest and soonest[0][0] <= now_ms:
            when, key = heapq.heappop(soonest)
            if due.get(key) == when:
                del due[key]
                keys.append(key)
        return keys

    def _index(self) -> None:
        """Rebuild `soonest` from `due` alone."""
        self.soonest = [(when, key) for key, when in self.due.items()]
        heapq.heapify(self.soonest)

    async def run_once(
        self,
        slices: Callable[[], Iterable[Iterable[tuple[bytes, bytes]]]],
        send_ticks: Callable[[int, list[bytes]], Awaitable[object]],
    ) -> int:
        """One timer round: rescan if it is time (`slices()`: the stored states, see
        rescan), then send ticks (`send_ticks(now_ms, keys)`) for the due leads."""
        if time.monotonic() >= self.next_scan:
            # Set first: a rescan_soon() while this one runs (a rebalance) asks for another.
            self.next_scan = time.monotonic() + self.rescan_s
            await self.rescan(slices())
        now = self.now_ms()
        if now is None:
            return 0
        keys = self.take_due(now)
        if keys:
            await send_ticks(now, keys)
            log.info("sent timer ticks for %d leads", len(keys))
        return len(keys)


def tick_records(now_ms: int, keys: Iterable[bytes], partitions: int) -> list[dict[str, Any]]:
    """The tick records (keyword arguments of Topic.send) for due leads: one per by-lead
    partition and at most TICK_RECORD_LEADS leads, sent to the partition of its leads (a
    lead's records all go to the partition of its key)."""
    by_partition: dict[int, list[str]] = {}
    for key in keys:
        by_partition.setdefault(partition_of(key, partitions), []).append(key.decode())
    return [
        {
            "key": None,
            "value": encode_tick(now_ms, leads[start : start + TICK_RECORD_LEADS]),
            "partition": partition,
        }
        for partition, leads in sorted(by_partition.items())
        for start in range(0, len(leads), TICK_RECORD_LEADS)
    ]


class TickTimer:
    """The demotion timer's body: a round of DueIndex.run_once over the table's local
    partitions, the due leads' ticks sent to the by-lead topic, a record per partition.

    A record per lead cost the qualify agent a record's work per due lead: a round of a
    few hundred due leads held up the stage changes behind it by up to 200 ms.
    """

    def __init__(
        self, due: DueIndex, table: faust.Table, by_lead: faust.TopicT, partitions: int
    ) -> None:
        self.due = due
        self.table = table
        self.by_lead = by_lead
        self.partitions = partitions
        self.store = LocalStore(table)

    async def run(self) -> None:
        """Send ticks for the leads of the local partitions that are due (see DueIndex)."""
        await self.due.run_once(lambda: self.store.item_slices(RESCAN_SLICE), self.send_ticks)

    async def send_ticks(self, now_ms: int, keys: list[bytes]) -> None:
        """Send the tick records of the due leads (each retried; a lasting failure stops
        the worker)."""
        for record in tick_records(now_ms, keys, self.partitions):
            await retry_or_stop("sending a timer tick", self.by_lead.send, **record)
