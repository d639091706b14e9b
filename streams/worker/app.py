"""The Faust application: create_app(settings) builds it; `app` is the module-level instance."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

import faust

from schemas.decode import Rejection
from streams.core.events import LeadEvent
from streams.core.qualify import Qualifier
from streams.core.ruleset import Ruleset, load_ruleset
from streams.core.state import LeadState
from streams.settings import Settings
from streams.worker.batching import REKEY_RECORD_EVENTS
from streams.worker.codec import (
    decode_state,
    encode_dead_letter,
    encode_lead_event,
    encode_stage_change,
    encode_state,
)
from streams.worker.failstop import retry_or_stop
from streams.worker.faust_ext import bulk_restore
from streams.worker.faust_ext import fixes as faust_fixes
from streams.worker.ingest import COMMIT_INTERVAL_S, Ingest
from streams.worker.kafka_clients import faust_credentials, kafka_client_kwargs
from streams.worker.outputs import OutputProducer
from streams.worker.pipeline import Applied, Pending, processing, records_waiting
from streams.worker.timers import DueIndex, Tick, decode_record, encode_tick, process_item
from streams.worker.topics import LEAD_TABLE, TopicNames

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Worker:
    """The pieces of a built app that tests and the CLI reach for."""

    app: faust.App
    settings: Settings
    topics: TopicNames
    qualifier: Qualifier
    table: Any
    ingest: Ingest
    outputs: OutputProducer
    qualify: Any
    by_lead: Any
    stage_changes: Any
    dead_letter: Any
    due: DueIndex


def create_app(settings: Settings | None = None, rules: Ruleset | None = None) -> faust.App:
    """Build a Faust app for one deployment (topic prefix, ruleset, broker)."""
    return build(settings, rules).app


def build(settings: Settings | None = None, rules: Ruleset | None = None) -> Worker:
    """Build the app and return it with its agents, table and topics."""
    faust_fixes.apply()
    settings = settings or Settings()
    ruleset = rules or load_ruleset(settings.rules)
    qualifier = Qualifier(ruleset)
    names = TopicNames.of(settings)
    app = faust.App(
        settings.worker_group,
        broker=[f"kafka://{server}" for server in settings.bootstrap_list],
        broker_credentials=faust_credentials(settings),
        store=settings.store,
        # One folder per deployment: workers of several deployments can share a data dir.
        datadir=str(settings.data_dir / "worker" / f"{settings.topic_prefix}{settings.app_id}"),
        topic_partitions=settings.partitions,
        topic_replication_factor=settings.replication_factor,
        topic_allow_declare=True,
        consumer_auto_offset_reset="earliest",
        web_enabled=settings.web_enabled,
        web_bind=settings.web_host,
        web_port=settings.web_port,
        web_host=settings.web_host,
        # Start and rebalance in about a second instead of the defaults' tens of seconds.
        broker_session_timeout=10.0,
        broker_heartbeat_interval=1.0,
        broker_rebalance_timeout=10.0,
        broker_commit_interval=COMMIT_INTERVAL_S,
        stream_recovery_delay=0.0,
        stream_wait_empty=False,
        table_standby_replicas=0,
        producer_acks=-1,
        producer_linger=0.002,
        key_serializer="raw",
        value_serializer="raw",
        logging_config=None,
        # Recovery restores the table from its changelog in large batches (bulk_restore.py).
        TableManager=bulk_restore.table_manager(kafka_client_kwargs(settings)),
    )
    by_lead = app.topic(
        names.events_by_lead,
        partitions=settings.partitions,
        key_serializer="raw",
        value_serializer="raw",
    )
    stage_changes = app.topic(names.stage_changes, key_serializer="raw", value_serializer="raw")
    dead_letter = app.topic(names.dead_letter, key_serializer="raw", value_serializer="raw")
    table = app.Table(
        LEAD_TABLE,
        default=None,
        partitions=settings.partitions,
        # Values are the lead state as JSON bytes, encoded and decoded here: faust's table
        # codecs are not applied when a table is recovered from its changelog.
        key_type=bytes,
        value_type=bytes,
    )

    async def reject(
        message: Any, rejection: Rejection, key: bytes | None = None, value: bytes | None = None
    ) -> None:
        """Dead-letter a message (or, with key and value, one event of a batched record)."""
        if value is None:
            key, value = message.key, message.value
        await dead_letter.send(
            key=key,
            value=encode_dead_letter(
                source_topic=message.topic,
                partition=message.partition,
                offset=message.offset,
                key=key,
                value=value,
                rejection=rejection,
            ),
        )

    ingest = Ingest(settings, loop=app.loop, beacon=app.beacon)
    app.service(ingest)
    outputs = OutputProducer(settings, loop=app.loop, beacon=app.beacon)
    app.service(outputs)

    due = DueIndex(
        qualifier,
        settings.timer_rescan_s,
        wall_clock=settings.timer_clock == "wall",
        input_idle=lambda: ingest.idle,
    )

    @app.agent(by_lead, name="qualify")  # type: ignore[untyped-decorator]
    async def qualify(stream: Any) -> None:
        """Apply the rules to each lead's state; send stage changes and hand-overs, then
        store the state.

        A record holds a batch of events (see RekeyBuffer), one event a visitor hands over
        to its lead, or a timer tick: they are applied in order and the record's stage
        changes and hand-overs are sent at once. While more records wait in the stream
        (up to AHEAD_RECORDS records and AHEAD_SENDS sends, see pipeline.py), they are
        applied and sent too, without waiting for the acknowledgements: a record's
        changes seldom wait behind the round trip of the records before it. Then every
        pending record's sends are awaited, and only then is each lead's final state
        stored and the records acked (so faust commits their offsets). After a crash in
        between, the records are processed again from the states stored before them and
        re-emit the same changes (same change_id, same content) instead of losing them.

        A lead's state is stored again even when the record leaves it unchanged (its events
        were all seen before): after a kill, the local store can hold a state whose
        changelog write was lost, and the records that made it come back as duplicates.
        Storing it again puts it in the changelog before their offsets are committed, so a
        worker that later recovers from the changelog alone does not resume without it.
        """
        stream.enable_acks = False  # each record is acked by finish(), once its states are stored
        pending = Pending()
        async for event in stream.events():
            if not pending.takes(event):
                await finish(stream, pending)
            states, changes, forward = await apply_record(event, pending.states)
            sent = await retry_or_stop("sending stage changes", queue_sends, changes, forward)
            pending.add(Applied(event, states, changes, forward, sent))
            if not pending.full() and records_waiting(stream):
                continue
            await finish(stream, pending)

    async def finish(stream: Any, pending: Pending) -> None:
        """Await the pending records' sends, then store their leads' states and ack them."""
        # The changes must be durable before the states that remember them are.
        await retry_or_stop("sending stage changes", deliver, pending.records)
        if not all(
            faust_fixes.in_current_generation(app, applied.event.message)
            for applied in pending.records
        ):
            # A rebalance came in between: their partitions' next owner (or this worker
            # again, after its recovery) processes the records again from their offsets.
            pending.clear()
            return
        for event, key, state in pending.final_states():
            with processing(event):  # faust writes a key's changelog partition of its event
                store(key, state)
            due.observe(state.clock_ms)
            due.update(key, qualifier.next_due_ms(state))
        stored = bool(pending.states)
        for applied in pending.records:
            await stream.ack(applied.event)
        pending.clear()
        if stored:
            await hand_over_changelog()

    async def apply_record(
        event: Any, ahead: dict[bytes, LeadState]
    ) -> tuple[dict[bytes, LeadState], list[tuple[bytes, bytes]], list[LeadEvent]]:
        """Apply one record's items in order (dead-lettering rejected ones), on top of the
        states of records applied but not stored yet (`ahead`). Returns the final state
        of each stored lead it touched, its stage changes and its hand-overs."""
        states: dict[bytes, LeadState] = {}  # touched by this record, not yet stored
        changes: list[tuple[bytes, bytes]] = []
        forward: list[LeadEvent] = []
        for key, item in decode_record(event.value, event.key):
            raw_key = key.encode()  # table keys are bytes, as they come back on recovery
            if raw_key in states:
                state = states[raw_key]
            elif raw_key in ahead:
                state = ahead[raw_key]
            elif (stored := table.get(raw_key)) is not None:
                state = states[raw_key] = decode_state(stored)  # stored again (see qualify)
            else:
                state = LeadState(key=key)
            try:
                decision = process_item(qualifier, state, item)
            except Exception as exc:  # a rules bug must not stall the partition
                log.exception("qualifying %r for %r failed", item, key)
                problem = Rejection("processing_error", repr(exc))
                await retry_or_stop(
                    "dead-lettering", reject, event.message, problem, raw_key, encoded(item)
                )
                continue
            if decision.rejection is not None:
                code, message = decision.rejection.code, decision.rejection.message
                if code == "identity_conflict":
                    log.warning("identity conflict: %s", message)
                rejection = Rejection(code, message)
                await retry_or_stop(
                    "dead-lettering", reject, event.message, rejection, raw_key, encoded(item)
                )
            if decision.state is not state:
                states[raw_key] = decision.state
                changes.extend((raw_key, encode_stage_change(c)) for c in decision.changes)
                forward.extend(decision.forward)
        return states, changes, forward

    def encoded(item: LeadEvent | Tick) -> bytes:
        return encode_lead_event(item) if isinstance(item, LeadEvent) else encode_tick(item.now_ms)

    async def hand_over_changelog() -> None:
        """Let faust hand the record's changelog writes to the producer before going on.

        Table writes queue their changelog records in faust's producer buffer; while more
        than 100 wait there, faust throttles its consumer for every fetched message, and
        a starved worker then takes in ever smaller batches. Waiting here instead keeps
        the buffer short.
        """
        buffer = app.producer.buffer
        await asyncio.sleep(0)  # faust's buffer task usually drains it in one go
        if buffer.size > REKEY_RECORD_EVENTS:
            await buffer.flush()

    async def queue_sends(
        records: list[tuple[bytes, bytes]], forward: list[LeadEvent]
    ) -> list[asyncio.Future[Any]]:
        """Send stage changes, and events handed over to their lead's key (its partition);
        returns the futures of their acknowledgements."""
        sent = [await outputs.send(names.stage_changes, k, v) for k, v in records]
        sent += [
            await outputs.send(
                names.events_by_lead, (e.lead_id or "").encode(), encode_lead_event(e)
            )
            for e in forward
        ]
        return sent

    async def deliver(records: list[Applied]) -> None:
        """Wait for the records' sends; a record with a failed send is sent again whole."""
        for applied in records:
            if any(f.done() and (f.cancelled() or f.exception()) for f in applied.sent):
                applied.sent = await queue_sends(applied.changes, applied.forward)
        await asyncio.gather(*(f for applied in records for f in applied.sent))

    def store(key: bytes, state: LeadState) -> None:
        table[key] = encode_state(state)

    if ruleset.demotion is not None:

        @app.timer(settings.timer_interval_s)  # type: ignore[untyped-decorator]
        async def timer() -> None:
            """Send a tick for each lead of the local partitions that is due (see DueIndex)."""
            await due.run_once(table.items, send_tick)

        async def send_tick(key: bytes, value: bytes) -> None:
            await retry_or_stop("sending a timer tick", by_lead.send, key=key, value=value)

    return Worker(
        app,
        settings,
        names,
        qualifier,
        table,
        ingest,
        outputs,
        qualify,
        by_lead,
        stage_changes,
        dead_letter,
        due,
    )


def __getattr__(name: str) -> Any:
    """The module-level `app` (for `faust -A streams.worker.app`), built from the environment on
    first use rather than at import, so that a bad setting is reported as such."""
    if name == "app":
        built = create_app()
        globals()["app"] = built
        return built
    raise AttributeError(name)
