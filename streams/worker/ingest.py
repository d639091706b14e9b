"""The ingest stage: a plain aiokafka loop that validates input events, dead-letters the bad
ones and re-keys the rest, in batches, to the events-by-lead topic."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.abc import ConsumerRebalanceListener
from aiokafka.errors import ConsumerStoppedError, KafkaError
from mode import Service

from schemas.decode import Rejection, TopicKind
from streams.core.events import EventOrigin, LeadEvent, event_origin
from streams.settings import Settings
from streams.worker.batching import REKEY_BATCH, RekeyBuffer
from streams.worker.codec import (
    RekeyFormat,
    dead_letter_of,
    partition_key,
    read_lead_event,
    rekeyed_item,
)
from streams.worker.failstop import retry_or_stop
from streams.worker.kafka_clients import kafka_client_kwargs
from streams.worker.metrics import WorkerMetrics
from streams.worker.rekey_format import ENCODE_ERRORS
from streams.worker.topics import TopicNames
from streams.worker.wall_clock import wall_ms

log = logging.getLogger(__name__)

POLL_TIMEOUT_MS: Final = 500  # getmany returns as soon as records arrive; this bounds idling
# A fetch waits at the broker until FETCH_MIN_BYTES are there or FETCH_WAIT_MS have passed:
# at moderate load, what arrives within 5 ms comes in one response, so the loop makes
# fewer and larger events-by-lead records (the qualify agent's cost is mostly per record)
# from fewer fetches; under a backlog the broker answers at once. aiokafka sends a
# partition's next fetch only when the one in flight returns, so FETCH_WAIT_MS also bounds
# how long a fresh event can wait for it. At 2,000 events/s, in 4 alternating pairs of
# runs of 20 s against 10 ms (commit 40a1346, 2 cores Intel Xeon, Linux 6.18.44, Python
# 3.11.7, Kafka 4.4.0): p50 9-13 ms against 12-13 ms, p99 20-52 ms against 22-48 ms (the
# ingest hop alone: p50 4-6 ms against 7 ms), for 15-40 % more worker CPU per event at that
# load (none under a backlog). Gathering in the loop instead (a fetch returning at 1 byte,
# then 10 ms of waiting for more) was slower still: p99 39-61 ms against 33-46 ms, with
# 300-340 fetches a second instead of 80-85. An idle worker fetches empty responses 200
# times a second.
FETCH_WAIT_MS: Final = 5
FETCH_MIN_BYTES: Final = 1024 * 1024
COMMIT_INTERVAL_S: Final = 1.0  # processed offsets are committed at most this often


@dataclass
class IngestBatch:
    """What one batch of input messages becomes: events-by-lead records and dead letters."""

    records: list[dict[str, Any]] = field(default_factory=list)
    dead_letters: list[tuple[bytes | None, bytes]] = field(default_factory=list)
    rejected: Counter[str] = field(default_factory=Counter)  # reason code -> dead letters


@dataclass(frozen=True, slots=True)
class Accepted:
    """An input value that passed: the core's event, the key it is re-partitioned by and
    its entry of an events-by-lead record."""

    event: LeadEvent
    key: str
    encoded: bytes


def judge(
    kind: TopicKind,
    value: bytes | None,
    not_after_ms: int | None = None,
    origin: EventOrigin | None = None,
    form: RekeyFormat = "compact",
) -> Accepted | Rejection:
    """What the ingest stage makes of one input value: the event it re-keys (its entry of an
    events-by-lead record of that form), or why the value is dead-lettered (it breaks the
    contract, cannot be carried on, or occurred after not_after_ms: the wall clock plus the
    tolerated clock skew, when given)."""
    try:
        event = read_lead_event(kind, value, origin)
        if isinstance(event, Rejection):
            return event
        key = partition_key(event)
        encoded = rekeyed_item(key, event, form)
    except ENCODE_ERRORS as exc:  # valid JSON we cannot carry on
        return Rejection("invalid_value", f"the event cannot be encoded: {exc}")
    if not_after_ms is not None and event.at_ms > not_after_ms:
        return from_future(event.at_ms, not_after_ms)
    return Accepted(event, key, encoded)


def rekey(
    messages: Iterable[ConsumerRecord[bytes, bytes]],
    kinds: Mapping[str, TopicKind],
    partitions: int,
    not_after_ms: int | None = None,
    form: RekeyFormat = "compact",
) -> IngestBatch:
    """Judge messages (any input topics, in order) and group the accepted events into one
    events-by-lead record (of that form) per partition (see RekeyBuffer); the others become
    dead letters."""
    batch = IngestBatch()
    pending = RekeyBuffer(partitions, form)
    for message in messages:
        kind = kinds[message.topic]
        origin = event_origin(kind, message.partition, message.offset, message.timestamp)
        judged = judge(kind, message.value, not_after_ms, origin, form)
        if isinstance(judged, Rejection):
            batch.dead_letters.append((message.key, dead_letter_of(message, judged)))
            batch.rejected[judged.code] += 1
        else:
            batch.records += pending.add(judged.key, judged.encoded)
    batch.records += pending.drain()
    return batch


def from_future(at_ms: int, not_after_ms: int) -> Rejection:
    """The rejection of an event dated further ahead of the wall clock than is tolerated."""
    ahead_s = (at_ms - not_after_ms) / 1000
    return Rejection(
        "from_future",
        f"occurred_at lies {ahead_s:,.0f} s beyond the wall clock plus the tolerated clock "
        "skew (LEADQ_MAX_CLOCK_SKEW_S); it would move time on for other leads",
    )


class Ingest(Service):
    """Reads the input topics in its own consumer group (`Settings.ingest_group`).

    A batch's records and dead letters are sent and acknowledged before the batch's offsets
    count as processed; processed offsets are committed every COMMIT_INTERVAL_S, when
    partitions are revoked and when the service stops. After a crash, the events after the
    last commit are re-keyed again: duplicates, which the qualifier ignores by event id.
    Without faust's per-message machinery, an input event costs a fraction of the CPU.
    """

    def __init__(
        self, settings: Settings, metrics: WorkerMetrics | None = None, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.settings = settings
        self.metrics = metrics
        self.names = TopicNames.of(settings)
        self.kinds = {topic: kind for kind, topic in self.names.inputs.items()}
        self.processed: dict[TopicPartition, int] = {}  # next offset, acknowledged downstream
        self.committed: dict[TopicPartition, int] = {}
        self.events = 0
        self.idle = False  # the last poll found nothing new: the input is read to its end
        self._consumer: AIOKafkaConsumer | None = None
        self._producer: AIOKafkaProducer | None = None

    async def on_start(self) -> None:
        """Connect, then run the loop in the background."""
        client = kafka_client_kwargs(self.settings)
        # No linger: a batch's records are appended at once, so waiting for more only
        # delays them.
        self._producer = AIOKafkaProducer(
            **client, acks="all", enable_idempotence=True, linger_ms=0
        )
        self._consumer = AIOKafkaConsumer(
            **client,
            group_id=self.settings.ingest_group,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_poll_records=REKEY_BATCH,
            fetch_max_wait_ms=FETCH_WAIT_MS,
            fetch_min_bytes=FETCH_MIN_BYTES,
            session_timeout_ms=10_000,
            heartbeat_interval_ms=1_000,
            rebalance_timeout_ms=10_000,
        )
        self._consumer.subscribe(list(self.kinds), listener=_CommitOnRevoke(self))
        await self._producer.start()
        await self._consumer.start()

    @Service.task
    async def _run(self) -> None:
        consumer, producer = self._consumer, self._producer
        assert consumer is not None  # started in on_start
        assert producer is not None
        loop = asyncio.get_running_loop()
        last_commit = loop.time()
        while not self.should_stop:
            try:
                fetched = await consumer.getmany(
                    timeout_ms=POLL_TIMEOUT_MS, max_records=REKEY_BATCH
                )
            except ConsumerStoppedError:  # the service is stopping
                return
            messages = [m for tp in sorted(fetched) for m in fetched[tp]]
            self.idle = not messages and bool(consumer.assignment())
            if messages:
                not_after_ms = wall_ms() + int(self.settings.max_clock_skew_s * 1000)
                batch = rekey(
                    messages,
                    self.kinds,
                    self.settings.partitions,
                    not_after_ms,
                    self.settings.rekey_format,
                )
                await retry_or_stop("re-keying", self._send, producer, batch)
                for tp, got in fetched.items():
                    self.processed[tp] = got[-1].offset + 1
                self.events += len(messages)
                if self.metrics is not None:
                    self.count(fetched, batch)
            if loop.time() - last_commit >= COMMIT_INTERVAL_S:
                await self.commit(consumer.assignment())
                last_commit = loop.time()

    def count(
        self,
        fetched: Mapping[TopicPartition, list[ConsumerRecord[bytes, bytes]]],
        batch: IngestBatch,
    ) -> None:
        """Add a sent batch to the metrics: events by input topic, dead letters by reason."""
        assert self.metrics is not None
        for tp, got in fetched.items():
            self.metrics.events.labels(tp.topic).inc(len(got))
        for reason, count in batch.rejected.items():
            self.metrics.dead_letters.labels(reason).inc(count)

    def assigned(self) -> set[TopicPartition]:
        """The input partitions this worker's ingest reads now."""
        return set() if self._consumer is None else set(self._consumer.assignment())

    async def lag(self) -> dict[tuple[str, int], int]:
        """(topic, partition) -> input messages not yet re-keyed and committed, for each
        assigned partition whose high-water mark is known."""
        consumer = self._consumer
        if consumer is None:
            return {}
        lag: dict[tuple[str, int], int] = {}
        for tp in consumer.assignment():
            highwater = consumer.highwater(tp)
            if highwater is None:
                continue
            done = self.committed.get(tp)
            if done is None:  # nothing committed here yet: where the consumer has read to
                done = await consumer.position(tp)
            lag[(tp.topic, tp.partition)] = max(0, highwater - done)
        return lag

    async def _send(self, producer: AIOKafkaProducer, batch: IngestBatch) -> None:
        acks = [
            await producer.send(self.names.events_by_lead, **record) for record in batch.records
        ]
        acks += [
            await producer.send(self.names.dead_letter, key=key, value=value)
            for key, value in batch.dead_letters
        ]
        await asyncio.gather(*acks)

    async def commit(self, partitions: Iterable[TopicPartition]) -> None:
        """Commit the processed offsets of these partitions (a failure only means that
        their events are re-keyed again by the partition's next owner)."""
        if self._consumer is None:
            return
        offsets = {
            tp: offset
            for tp in partitions
            if (offset := self.processed.get(tp)) is not None and self.committed.get(tp) != offset
        }
        if not offsets:
            return
        try:
            await self._consumer.commit(offsets)
        except KafkaError as exc:
            log.info("ingest: offset commit failed (%r); the events are read again", exc)
            return
        self.committed.update(offsets)

    async def on_stop(self) -> None:
        """Commit what was processed, then disconnect."""
        if self._consumer is not None:
            await self.commit(self._consumer.assignment())
            await self._consumer.stop()
        if self._producer is not None:
            await self._producer.stop()


class _CommitOnRevoke(ConsumerRebalanceListener):  # type: ignore[misc]
    """Commits a revoked partition's processed offsets, so its next owner starts there."""

    def __init__(self, ingest: Ingest) -> None:
        self.ingest = ingest

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        await self.ingest.commit(revoked)
        for tp in revoked:
            self.ingest.processed.pop(tp, None)
            self.ingest.committed.pop(tp, None)

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        return None
