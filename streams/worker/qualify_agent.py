"""The qualify agent: applies the rules to each lead's state, sends its changes, stores it."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import faust
from faust.types import EventT, StreamT

from schemas.decode import Rejection
from streams.core.events import LeadEvent
from streams.core.qualify import Qualifier
from streams.core.state import LeadState
from streams.worker.batching import REKEY_RECORD_EVENTS
from streams.worker.codec import (
    OutgoingChange,
    OutgoingSla,
    RekeyFormat,
    encode_lead_event,
    join_rekeyed,
    outgoing_change,
    outgoing_sla,
    rekeyed_item,
)
from streams.worker.failstop import retry_or_stop
from streams.worker.faust_ext.current_event import processing
from streams.worker.faust_ext.fixes import in_current_generation
from streams.worker.faust_ext.producer_buffer import hand_over_changelog
from streams.worker.lead_store import LeadStore
from streams.worker.metrics import WorkerMetrics
from streams.worker.outputs import DeadLetters, RecordSender
from streams.worker.pipeline import Applied, Pending, records_waiting
from streams.worker.shadow import Shadow
from streams.worker.timers import DueIndex, Tick, decode_record, encode_tick, process_item
from streams.worker.topics import TopicNames
from streams.worker.wall_clock import wall_ms

log = logging.getLogger(__name__)

MAX_PENDING_TRIGGERS = 10_000

# What applying one record gives: the final state of each lead it touched (to be stored),
# its stage changes, the events it hands over to their lead, and its SLA events.
RecordResult = tuple[
    dict[bytes, LeadState], list[OutgoingChange], list[LeadEvent], list[OutgoingSla]
]


class QualifyAgent:
    """Apply the rules to each lead's state; send stage changes, SLA events and hand-overs,
    then store the state.

    A record holds a batch of events (see RekeyBuffer), one event a visitor hands over to
    its lead, or a timer tick: they are applied in order and the record's stage changes and
    hand-overs are sent at once. While more records wait in the stream (up to AHEAD_RECORDS
    records and AHEAD_SENDS sends, see pipeline.py), they are applied and sent too, without
    waiting for the acknowledgements: a record's changes seldom wait behind the round trip
    of the records before it. Then every pending record's sends are awaited, and only then
    is each lead's final state stored and the records acked (so faust commits their
    offsets). After a crash in between, the records are processed again from the states
    stored before them and re-emit the same changes (same change_id, same content) instead
    of losing them. SLA events (a timer tick's, or those an event's stage change or work
    completes) go with the record's sends the same way.

    A lead's state is stored again even when the record leaves it unchanged (its events
    were all seen before): after a kill, the local store can hold a state whose changelog
    write was lost, and the records that made it come back as duplicates. Storing it again
    puts it in the changelog before their offsets are committed, so a worker that later
    recovers from the changelog alone does not resume without it.

    With a shadow ruleset (shadow.py), each record's items are applied to the shadow states
    too; the shadow's changes are sent with the record's and its states stored with them.
    """

    def __init__(
        self,
        *,
        app: faust.App,
        qualifier: Qualifier,
        leads: LeadStore,
        outputs: RecordSender,
        dead_letters: DeadLetters,
        due: DueIndex,
        names: TopicNames,
        metrics: WorkerMetrics | None = None,
        shadow: Shadow | None = None,
        source: str = "leadq/leadq",
        rekey_format: RekeyFormat = "compact",
    ) -> None:
        self.app = app  # whose consumer generation and changelog buffer the agent checks
        self.qualifier = qualifier
        self.leads = leads  # each lead's state: read, and stored after its changes are sent
        self.outputs = outputs  # stage changes and hand-overs
        self.dead_letters = dead_letters
        self.due = due
        self.names = names
        self.metrics = metrics
        # The input timestamps of events whose stage changes are not delivered yet, by
        # event id: the start of leadq_event_to_stage_change_seconds.
        self.trigger_ms: dict[str, int] = {}
        self.shadow = shadow
        self.source = source  # the CloudEvents source of its stage changes
        self.rekey_format = rekey_format  # of the hand-overs it sends to the by-lead topic

    async def run(self, stream: StreamT) -> None:
        """The agent's body: process the stream's records until it ends."""
        stream.enable_acks = False  # each record is acked by finish(), once its states are stored
        pending = Pending()  # one per stream: a restarted agent starts without leftovers
        async for event in stream.events():
            if not pending.takes(event):
                await self.finish(stream, pending)
            items = decode_record(event.value, event.key)
            states, changes, forward, sla = await self.apply_items(event, items, pending.states)
            applied = Applied(event, states, changes, forward, [], sla=sla)
            if self.shadow is not None:
                applied.shadow_states, applied.shadow_changes = self.shadow.apply_items(
                    items, pending.shadow_states
                )
            applied.sent = await retry_or_stop("sending stage changes", self.queue_sends, applied)
            pending.add(applied)
            if not pending.full() and records_waiting(stream):
                continue
            await self.finish(stream, pending)

    async def finish(self, stream: StreamT, pending: Pending) -> None:
        """Await the pending records' sends, then store their leads' states and ack them."""
        # The changes must be durable before the states that remember them are.
        await retry_or_stop("sending stage changes", self.deliver, pending.records)
        if self.metrics is not None:
            self.count_delivered(pending.records)
        if not all(
            in_current_generation(self.app, applied.event.message) for applied in pending.records
        ):
            # A rebalance came in between: their partitions' next owner (or this worker
            # again, after its recovery) processes the records again from their offsets.
            pending.clear()
            return
        writes = list(pending.final_states())
        shadow_stored = bool(pending.shadow_states)  # only with a shadow ruleset
        await self.leads.put(writes)
        for _, key, state in writes:
            self.due.observe(state.clock_ms)
            self.due.update(key, self.qualifier.next_due_ms(state))
        if self.shadow is not None:
            for event, key, state in pending.final_states(shadow=True):
                with processing(event):  # faust writes a key's changelog partition of its event
                    self.shadow.store(key, state)
        for applied in pending.records:
            await stream.ack(applied.event)
        pending.clear()
        if shadow_stored:
            await hand_over_changelog(self.app, REKEY_RECORD_EVENTS)

    async def apply_record(self, event: EventT, ahead: dict[bytes, LeadState]) -> RecordResult:
        """apply_items() on the record's decoded items."""
        return await self.apply_items(event, decode_record(event.value, event.key), ahead)

    async def apply_items(
        self,
        event: EventT,
        items: list[tuple[str, LeadEvent | Tick]],
        ahead: dict[bytes, LeadState],
    ) -> RecordResult:
        """Apply one record's items in order (dead-lettering rejected ones), on top of the
        states of records applied but not stored yet (`ahead`). Returns the final state
        of each stored lead it touched, its stage changes, its hand-overs and its SLA
        events."""
        states: dict[bytes, LeadState] = {}  # touched by this record, not yet stored
        changes: list[OutgoingChange] = []
        forward: list[LeadEvent] = []
        sla: list[OutgoingSla] = []
        for key, item in items:
            raw_key = key.encode()  # table keys are bytes, as they come back on recovery
            if raw_key in states:
                state = states[raw_key]
            elif raw_key in ahead:
                state = ahead[raw_key]
            elif (stored := self.leads.get(raw_key, event)) is not None:
                state = states[raw_key] = stored  # stored again (see the class)
            else:
                state = LeadState(key=key)
            try:
                decision = process_item(self.qualifier, state, item)
            except Exception as exc:  # a rules bug must not stall the partition
                log.exception("qualifying %r for %r failed", item, key)
                problem = Rejection("processing_error", repr(exc))
                await self.dead_letter(event, problem, raw_key, item)
                continue
            if decision.rejection is not None:
                code, message = decision.rejection.code, decision.rejection.message
                if code == "identity_conflict":
                    log.warning("identity conflict: %s", message)
                await self.dead_letter(event, Rejection(code, message), raw_key, item)
            if self.metrics is not None and decision.changes and isinstance(item, LeadEvent):
                self.note_trigger(item)
            if decision.state is not state:
                states[raw_key] = decision.state
                if decision.changes:  # seldom: most events change no stage
                    changes += [outgoing_change(raw_key, c, self.source) for c in decision.changes]
                if decision.forward:
                    forward += decision.forward
                if decision.sla:
                    sla += [outgoing_sla(raw_key, e, self.source) for e in decision.sla]
        return states, changes, forward, sla

    def note_trigger(self, event: LeadEvent) -> None:
        """Remember when an event that made stage changes was produced (for the metrics)."""
        if event.origin is not None and event.origin.produced_ms is not None:
            self.trigger_ms[event.event_id] = event.origin.produced_ms

    def count_delivered(self, records: list[Applied]) -> None:
        """Add the delivered stage changes to the metrics: by stage reached, and the time
        from their trigger event's produce to now."""
        assert self.metrics is not None
        now_ms = wall_ms()
        for applied in records:
            for change in applied.changes:
                self.metrics.stage_changes.labels(change.to_stage).inc()
                produced_ms = self.trigger_ms.pop(change.trigger_event_id or "", None)
                if produced_ms is not None:
                    self.metrics.latency.observe(max(0, now_ms - produced_ms) / 1000)
        if len(self.trigger_ms) > MAX_PENDING_TRIGGERS:  # records dropped in a rebalance
            self.trigger_ms.clear()

    async def dead_letter(
        self, event: EventT, rejection: Rejection, key: bytes, item: LeadEvent | Tick
    ) -> None:
        """Dead-letter one item of a record as the input message it came from (retried; a
        lasting failure stops the worker)."""
        origin = item.origin if isinstance(item, LeadEvent) else None
        if self.metrics is not None:
            self.metrics.dead_letters.labels(rejection.code).inc()
        await retry_or_stop(
            "dead-lettering",
            self.dead_letters.send_event,
            event.message,
            rejection,
            key,
            encoded(item),
            origin,
        )

    async def queue_sends(self, applied: Applied) -> list[asyncio.Future[Any]]:
        """Send a record's stage changes (each with the lead's current stage, the same
        durability), its SLA events, the shadow's stage changes, and events handed over to
        their lead's key (its partition); returns the futures of their acknowledgements."""
        names, send = self.names, self.outputs.send
        sent = []
        for change in applied.changes:
            sent += [
                await send(names.stage_changes, change.key, change.value, headers=change.headers),
                await send(names.lead_stages, change.key, change.current),
            ]
        sent += [await send(names.sla, e.key, e.value, headers=e.headers) for e in applied.sla]
        topic = names.shadow_stage_changes
        sent += [await send(topic, k, v) for k, v in applied.shadow_changes]
        for e in applied.forward:
            key = e.lead_id or ""
            form = self.rekey_format
            record = join_rekeyed([rekeyed_item(key, e, form)], form)
            sent.append(await send(names.events_by_lead, key.encode(), record))
        return sent

    async def deliver(self, records: list[Applied]) -> None:
        """Wait for the records' sends; a record with a failed send is sent again whole."""
        for applied in records:
            if any(f.done() and (f.cancelled() or f.exception()) for f in applied.sent):
                applied.sent = await self.queue_sends(applied)
        await asyncio.gather(*(f for applied in records for f in applied.sent))


def encoded(item: LeadEvent | Tick) -> bytes:
    """An item of a by-lead record as it is dead-lettered: the event, or the tick record."""
    return encode_lead_event(item) if isinstance(item, LeadEvent) else encode_tick(item.now_ms)
