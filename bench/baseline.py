"""The baseline: a plain aiokafka loop doing leadq's work with the same durability.

Per poll batch it decodes every input record (`streams.worker.codec.read_lead_event`, as
the worker's ingest does), applies `streams.core.qualify.Qualifier` to the lead's state
held in a dict, produces the stage changes and waits for their acks, then writes every
changed state (one changelog record per event that changed its lead, as leadq's table does)
to a compacted changelog topic and waits for those acks, and only then commits the input
offsets (acks=all, idempotent producer). Unlike leadq it does not re-key through an
internal topic: it reads the input partitions directly and keys state by lead, which is
only correct with a single consumer (leadq must re-key because producers key events any
way they like, so one lead's events may sit in any partition of any input topic).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from bench.common import create_topics, frozen_heap, say
from bench.preload import Preload
from schemas.decode import Rejection, TopicKind
from streams.core.qualify import Qualifier
from streams.core.ruleset import load_ruleset
from streams.core.state import LeadState
from streams.settings import Settings
from streams.worker.codec import (
    dead_letter_of,
    encode_stage_change,
    encode_state,
    partition_key,
    read_lead_event,
)
from streams.worker.kafka_clients import kafka_client_kwargs

MAX_RECORDS = 2_000
RUN_TIMEOUT_S = 900.0


@dataclass(frozen=True)
class BaselineTopics:
    """The output topics of one baseline run."""

    stage_changes: str
    changelog: str
    dead_letter: str

    @classmethod
    def of(cls, settings: Settings, run: str) -> BaselineTopics:
        """Topics under the settings' prefix, named after the run."""
        base = settings.topic(f"baseline-{run}")
        return cls(f"{base}.stage-changes", f"{base}.state-changelog", f"{base}.dead-letter")


@dataclass
class BaselineResult:
    """What one baseline run did and how long it took."""

    events: int
    seconds: float
    stage_changes: int
    state_writes: int
    rejected: int
    states: dict[str, LeadState]
    cpu_s: float  # this process's CPU time during the run

    @property
    def cpu_share(self) -> float:
        """CPU use while processing, as a share of one core."""
        return self.cpu_s / self.seconds if self.seconds > 0 else 0.0

    @property
    def cpu_us_per_event(self) -> float:
        """CPU time per input event, in microseconds (noise-robust)."""
        return self.cpu_s / self.events * 1e6 if self.events else 0.0

    @property
    def events_per_s(self) -> float:
        """Input records processed per second."""
        return self.events / self.seconds if self.seconds > 0 else 0.0


class Baseline:
    """The plain loop's processing of one batch, separated from Kafka I/O for clarity."""

    def __init__(self, qualifier: Qualifier, kind_of: dict[str, str]) -> None:
        self.qualifier = qualifier
        self.kind_of = kind_of
        self.states: dict[str, LeadState] = {}

    def process(
        self, records: list[Any]
    ) -> tuple[list[tuple[bytes, bytes]], list[tuple[bytes, LeadState]], list[bytes]]:
        """Stage changes (key, value), changed states (key, state) and dead letters of a batch."""
        changes: list[tuple[bytes, bytes]] = []
        writes: list[tuple[bytes, LeadState]] = []
        rejects: list[bytes] = []
        states = self.states
        process = self.qualifier.process
        for record in records:
            kind: TopicKind = self.kind_of[record.topic]  # type: ignore[assignment]
            read = read_lead_event(kind, record.value)
            if isinstance(read, Rejection):
                rejects.append(dead_letter_of(record, read))
                continue
            # An event, then what it hands over to other keys (a visitor's history to its
            # lead): leadq sends those through its re-key topic, here they are processed
            # in the same loop.
            pending = [(partition_key(read), read)]
            while pending:
                key, event = pending.pop(0)
                state = states.get(key) or LeadState(key=key)
                try:
                    outcome = process(state, event)
                except Exception as exc:  # same policy as leadq: a rules bug dead-letters
                    rejects.append(dead_letter_of(record, Rejection("processing_error", repr(exc))))
                    continue
                if outcome.rejection is not None:
                    problem = Rejection(outcome.rejection.code, outcome.rejection.message)
                    rejects.append(dead_letter_of(record, problem))
                pending.extend((e.lead_id or "", e) for e in outcome.forward)
                if outcome.state is state:
                    continue
                states[key] = outcome.state
                raw_key = key.encode()
                changes.extend((raw_key, encode_stage_change(c)) for c in outcome.changes)
                writes.append((raw_key, outcome.state))
        return changes, writes, rejects


async def run_baseline(
    preload: Preload,
    run: str,
    on_progress: Callable[[int], None] | None = None,
) -> BaselineResult:
    """Process every preloaded input record once with the plain loop; time it."""
    settings = preload.settings
    topics = BaselineTopics.of(settings, run)
    await create_topics(
        settings,
        [topics.stage_changes, topics.changelog, topics.dead_letter],
        compacted=[topics.changelog],
    )
    worker = Baseline(Qualifier(load_ruleset(settings.rules)), preload.kind_of)
    consumer = AIOKafkaConsumer(
        **kafka_client_kwargs(settings),
        group_id=settings.topic(f"baseline-{run}"),
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    producer = AIOKafkaProducer(
        **kafka_client_kwargs(settings),
        acks="all",
        enable_idempotence=True,
        linger_ms=5,
        max_batch_size=256 * 1024,
    )
    await producer.start()
    await consumer.start()
    targets = {tp: end for tp, end in preload.ends.items() if end > 0}
    consumer.assign(list(targets))
    for tp in targets:
        consumer.seek(tp, 0)
    events = stage_changes = state_writes = rejected = 0
    try:
        with frozen_heap():  # as in the worker (see frozen_heap)
            began = last = time.monotonic()
            cpu_began = time.process_time()
            remaining = dict(targets)
            while remaining:
                if time.monotonic() - began > RUN_TIMEOUT_S:
                    raise TimeoutError(f"baseline run {run} not done after {RUN_TIMEOUT_S:g}s")
                batch = await consumer.getmany(timeout_ms=500, max_records=MAX_RECORDS)
                records = [r for messages in batch.values() for r in messages]
                if not records:
                    continue
                changes, writes, rejects = worker.process(records)
                # Stage changes are durable before the states that remember them (as in leadq).
                await _send_all(producer, topics.stage_changes, changes)
                encoded = [(k, encode_state(s)) for k, s in writes]
                await _send_all(producer, topics.changelog, encoded)
                await _send_all(producer, topics.dead_letter, [(b"", v) for v in rejects])
                offsets = {tp: got[-1].offset + 1 for tp, got in batch.items() if got}
                await consumer.commit(offsets)
                for tp, offset in offsets.items():
                    if offset >= remaining.get(tp, offset + 1):
                        del remaining[tp]
                events += len(records)
                stage_changes += len(changes)
                state_writes += len(writes)
                rejected += len(rejects)
                if on_progress is not None and time.monotonic() - last >= 5:
                    last = time.monotonic()
                    on_progress(events)
            seconds = time.monotonic() - began
            cpu_s = time.process_time() - cpu_began
    finally:
        await consumer.stop()
        await producer.stop()
    return BaselineResult(
        events, seconds, stage_changes, state_writes, rejected, worker.states, cpu_s
    )


async def _send_all(
    producer: AIOKafkaProducer, topic: str, records: list[tuple[bytes, bytes]]
) -> None:
    pending: list[asyncio.Future[Any]] = [
        await producer.send(topic, value, key=key or None) for key, value in records
    ]
    if pending:
        await asyncio.gather(*pending)


def report_progress(run: str, total: int) -> Callable[[int], None]:
    """A progress callback that prints `done/total` for a run."""

    def progress(done: int) -> None:
        say(f"{run}: {done:,}/{total:,} events")

    return progress
