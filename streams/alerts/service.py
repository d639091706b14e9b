"""The alert service: consumer loop, routing to lanes, commits of what is finished, rebalances."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterable
from typing import Final

import aiohttp
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.abc import ConsumerRebalanceListener
from aiokafka.errors import ConsumerStoppedError, KafkaError

from streams.alerts.config import AlertsConfig, Target
from streams.alerts.lanes import Lane, Received
from streams.alerts.metrics import AlertMetrics
from streams.alerts.offsets import Watermark
from streams.alerts.routing import Source, Unreadable, matches, read_event
from streams.alerts.send import Sender
from streams.settings import Settings
from streams.worker.failstop import retry_or_stop
from streams.worker.kafka_clients import kafka_client_kwargs
from streams.worker.topics import ALERTS_DEAD_LETTER, SLA, STAGE_CHANGES, ensure_topics

log = logging.getLogger(__name__)

GROUP: Final = "leadq-alerts"  # the consumer group, after the topic prefix
POLL_TIMEOUT_MS: Final = 500
FETCH_RECORDS: Final = 500  # at most this many records are read past max_pending
COMMIT_INTERVAL_S: Final = 1.0
# aiokafka keeps one fetch in flight per broker, and a partition whose buffered records were
# just taken is fetched again only once that request returns: with aiokafka's default wait
# (500 ms) a stage change could wait that long at the broker before its delivery began.
FETCH_WAIT_MS: Final = 20


def alerts_group(settings: Settings) -> str:
    """The consumer group every replica of the alert service joins."""
    return f"{settings.topic_prefix}{GROUP}"


class AlertService:
    """Delivers the records of leads.stage-changes and leads.sla to the targets.

    A record counts as finished once it is delivered or dead-lettered for every target it
    matched; per partition, the offset below the lowest unfinished record is committed
    (every COMMIT_INTERVAL_S, when partitions are revoked and on stop). What is unfinished
    is read again after a crash or a rebalance, and delivered again with the same
    webhook-id. Reading pauses while `max_pending` records are unfinished.

    A group without committed offsets starts at the end of its topics: the service alerts
    on what is written from its first start on, and commits that starting point at once.
    """

    def __init__(
        self,
        settings: Settings,
        config: AlertsConfig,
        targets: list[Target],
        metrics: AlertMetrics | None = None,
        on_ready: Callable[[], None] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.max_pending = config.max_pending
        self.targets = targets
        self.metrics = metrics or AlertMetrics()
        self.on_ready = on_ready
        self.clock = clock
        self.sources: dict[str, Source] = {
            settings.topic(STAGE_CHANGES): "stage_changes",
            settings.topic(SLA): "sla",
        }
        self.dead_letter_topic = settings.topic(ALERTS_DEAD_LETTER)
        self.watermarks: dict[TopicPartition, Watermark] = {}
        self.committed: dict[TopicPartition, int] = {}
        self.lanes: list[Lane] = []
        self.assigned = asyncio.Event()  # set after each assignment, cleared while revoking
        self._consumer: AIOKafkaConsumer | None = None
        self._producer: AIOKafkaProducer | None = None
        self._session: aiohttp.ClientSession | None = None
        self._loop_task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Create missing topics, connect, join the group and start reading."""
        await ensure_topics(self.settings, topics=[*self.sources, self.dead_letter_topic])
        client = kafka_client_kwargs(self.settings)
        self._producer = AIOKafkaProducer(**client, acks="all", enable_idempotence=True)
        await self._producer.start()
        self._session = aiohttp.ClientSession()
        sender = Sender(self._session)
        self.lanes = [
            Lane(t, sender, self._write_dead_letter, self.metrics, self._finished, self.clock)
            for t in self.targets
        ]
        self._consumer = AIOKafkaConsumer(
            **client,
            group_id=alerts_group(self.settings),
            enable_auto_commit=False,
            auto_offset_reset="earliest",  # only when a committed offset is out of range
            fetch_max_wait_ms=FETCH_WAIT_MS,
            session_timeout_ms=10_000,
            heartbeat_interval_ms=1_000,
            rebalance_timeout_ms=10_000,
        )
        self._consumer.subscribe(list(self.sources), listener=_Rebalance(self))
        await self._consumer.start()
        self._loop_task = asyncio.create_task(self._loop(), name="alerts:read")

    def is_ready(self) -> bool:
        """Assigned (with no rebalance going on) and reading."""
        running = self._loop_task is not None and not self._loop_task.done()
        return running and self.assigned.is_set()

    def partitions(self) -> set[TopicPartition]:
        """The partitions this replica reads now."""
        return set() if self._consumer is None else set(self._consumer.assignment())

    async def wait_assigned(self, timeout: float) -> None:
        """Until the group has given this replica its partitions (TimeoutError if not)."""
        await asyncio.wait_for(self.assigned.wait(), timeout)

    async def stop(self) -> None:
        """Stop delivering, commit what is finished, disconnect."""
        if self._loop_task is not None:
            self._loop_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop_task
        for lane in self.lanes:
            await lane.close()
        if self._consumer is not None:
            await self._commit(self._consumer.assignment())
            await self._consumer.stop()
        if self._producer is not None:
            await self._producer.stop()
        if self._session is not None:
            await self._session.close()

    async def failed(self) -> BaseException | None:
        """Wait until the reading loop ends; what it failed with (None: stopped)."""
        assert self._loop_task is not None
        await asyncio.wait({self._loop_task})
        return None if self._loop_task.cancelled() else self._loop_task.exception()

    async def _loop(self) -> None:
        consumer = self._consumer
        assert consumer is not None
        loop = asyncio.get_running_loop()
        last_commit = loop.time()
        while True:
            self._flow_control(consumer)
            try:
                fetched = await consumer.getmany(
                    timeout_ms=POLL_TIMEOUT_MS, max_records=FETCH_RECORDS
                )
            except ConsumerStoppedError:
                return
            for tp in sorted(fetched):
                for message in fetched[tp]:
                    self._accept(tp, message)
            if loop.time() - last_commit >= COMMIT_INTERVAL_S:
                await self._commit(consumer.assignment())
                last_commit = loop.time()

    def unfinished(self) -> int:
        """Records read and not yet finished, on the partitions this replica has."""
        return sum(w.unfinished for w in self.watermarks.values())

    def _flow_control(self, consumer: AIOKafkaConsumer) -> None:
        unfinished = self.unfinished()
        self.metrics.unfinished.set(unfinished)
        partitions = consumer.assignment()
        if unfinished >= self.max_pending:
            consumer.pause(*partitions)
        else:
            consumer.resume(*partitions)

    def _accept(self, tp: TopicPartition, message: ConsumerRecord[bytes, bytes]) -> None:
        """Hand a record to the lanes it matches (synchronous: no rebalance in between)."""
        watermark = self.watermarks.setdefault(tp, Watermark())
        watermark.add(message.offset)
        try:
            event = read_event(self.sources[tp.topic], message.value)
        except Unreadable as exc:
            log.warning("skipping %s[%d]@%d: %s", tp.topic, tp.partition, message.offset, exc)
            watermark.finish(message.offset)
            return
        lanes = [lane for lane in self.lanes if matches(lane.target.rules, event)]
        if not lanes:
            watermark.finish(message.offset)
            return
        # max_age counts from when the record was written (now, if Kafka does not say).
        written_ms = message.timestamp if message.timestamp >= 0 else int(self.clock() * 1000)
        record = Received(tp, message.offset, written_ms, event, remaining=len(lanes))
        for lane in lanes:
            lane.add(record)

    def _finished(self, record: Received) -> None:
        record.remaining -= 1
        if record.remaining == 0:
            watermark = self.watermarks.get(record.tp)
            if watermark is not None:
                watermark.finish(record.offset)

    async def _write_dead_letter(self, key: bytes, value: bytes) -> None:
        producer = self._producer
        assert producer is not None
        await retry_or_stop(
            "writing an alert dead letter",
            producer.send_and_wait,
            self.dead_letter_topic,
            value=value,
            key=key,
        )

    async def _commit(self, partitions: Iterable[TopicPartition]) -> None:
        """Commit, for these partitions, the offset below their lowest unfinished record."""
        consumer = self._consumer
        if consumer is None:
            return
        offsets = {}
        for tp in partitions:
            watermark = self.watermarks.get(tp)
            offset = watermark.committable() if watermark is not None else None
            if offset is not None and self.committed.get(tp) != offset:
                offsets[tp] = offset
        if not offsets:
            return
        try:
            await consumer.commit(offsets)
        except KafkaError as exc:
            log.info("alerts: offset commit failed (%r); the records are read again", exc)
            return
        self.committed.update(offsets)

    async def partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        """Stop working on the partitions' records; commit what is finished there."""
        self.assigned.clear()
        gone = set(revoked)
        for lane in self.lanes:
            await lane.drop(lambda record: record.tp in gone)
        await self._commit(gone)
        for tp in gone:
            self.watermarks.pop(tp, None)
            self.committed.pop(tp, None)

    async def partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        """Start a partition without a committed offset at its end; then ready."""
        consumer = self._consumer
        assert consumer is not None
        try:
            fresh = [tp for tp in assigned if await consumer.committed(tp) is None]
            if fresh:
                # First start of the group: begin at the end, and remember that at once (a
                # restart must not skip what is written meanwhile).
                ends: dict[TopicPartition, int] = await consumer.end_offsets(fresh)
                for tp, end in ends.items():
                    consumer.seek(tp, end)
                await consumer.commit(ends)
                self.committed.update(ends)
        except KafkaError as exc:
            log.warning("alerts: cannot look up or commit the starting offsets (%r)", exc)
        self.assigned.set()
        if self.on_ready is not None:
            self.on_ready()


class _Rebalance(ConsumerRebalanceListener):  # type: ignore[misc]
    """Stops the work on revoked partitions and commits what is finished there; starts a
    new group at the end of its topics."""

    def __init__(self, service: AlertService) -> None:
        self.service = service

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        await self.service.partitions_revoked(revoked)

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        await self.service.partitions_assigned(assigned)
