"""Reads the lead-state changelog, leads.lead-stages and leads.stage-changes into the replica."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Final, TypeAlias

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, wait_exponential

from streams.api.feed import Feed, Item
from streams.api.metrics import ApiMetrics
from streams.api.replica import BadRecord, Replica
from streams.settings import Settings
from streams.worker.kafka_clients import kafka_client_kwargs
from streams.worker.topics import TopicNames
from streams.worker.wall_clock import wall_ms

log = logging.getLogger(__name__)

FETCH_WAIT_MS: Final = 100  # how long a fetch waits for new records: the feed's delay
POLL_MS: Final = 500
MAX_RECORDS: Final = 2000
TOPICS_POLL_S: Final = 1.0
RETRY_MAX_S: Final = 10.0

Record: TypeAlias = "ConsumerRecord[bytes, bytes]"


class TopicReader:
    """Keeps the replica up to date with the topics; knows whether it has caught up.

    It reads every partition of the three topics (no consumer group) from the beginning,
    and keeps reading. It is ready once it has read up to the end offsets the topics had
    when it started, and not ready again while it is more than `max_lag` records behind.
    Stage changes read after that first catch-up go to the /events feed.
    """

    def __init__(
        self,
        settings: Settings,
        replica: Replica,
        feed: Feed,
        metrics: ApiMetrics,
        max_lag: int,
    ) -> None:
        self.settings = settings
        self.replica = replica
        self.feed = feed
        self.metrics = metrics
        self.max_lag = max_lag
        names = TopicNames.of(settings)
        self.topics = [names.changelog, names.lead_stages, names.stage_changes]
        self.apply: dict[str, Callable[[Record], None]] = {
            names.changelog: lambda r: replica.apply_state(r.key, r.value),
            names.lead_stages: lambda r: replica.apply_lead_stage(r.key, r.value),
            names.stage_changes: self._stage_change,
        }
        self.targets: dict[TopicPartition, int] = {}  # the end offsets when reading started
        self.positions: dict[TopicPartition, int] = {}  # the next offset to read
        self.highwaters: dict[TopicPartition, int] = {}
        self.caught_up = False
        self.problem: str | None = "starting"
        metrics.sources.append(self._refresh_metrics)

    # -- what /readyz and /metrics report ------------------------------------------------

    def behind(self) -> dict[str, int]:
        """Records per topic not read yet (as far as the last fetch told)."""
        out = dict.fromkeys(self.topics, 0)
        for tp, target in self.targets.items():
            end = max(target, self.highwaters.get(tp, 0))
            out[tp.topic] += max(0, end - self.positions.get(tp, 0))
        return out

    def readiness(self) -> tuple[bool, str | None]:
        """(ready, why not)."""
        if self.problem is not None:
            return False, self.problem
        behind = sum(self.behind().values())
        if not self.caught_up:
            return False, f"catching up: {behind} records to read"
        if behind > self.max_lag:
            return False, f"{behind} records behind (more than {self.max_lag})"
        return True, None

    def _refresh_metrics(self) -> None:
        self.metrics.set_lag(self.behind())
        self.metrics.ready.set(1 if self.readiness()[0] else 0)
        self.metrics.leads.set(len(self.replica.leads))
        self.metrics.clients.set(self.feed.clients)

    # -- reading ---------------------------------------------------------------------

    async def run(self) -> None:
        """Read until cancelled; Kafka errors are logged and retried with backoff."""
        retrying = AsyncRetrying(
            retry=retry_if_exception_type((KafkaError, OSError)),
            wait=wait_exponential(multiplier=0.5, max=RETRY_MAX_S),
            before_sleep=self._failed,
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                await self._read()

    def _failed(self, retry: RetryCallState) -> None:
        exc = retry.outcome.exception() if retry.outcome is not None else None
        self.problem = f"cannot read from Kafka at {self.settings.kafka_bootstrap_servers}"
        log.warning("%s (%s); retrying", self.problem, _one_line(exc))

    async def _read(self) -> None:
        parts = await self._partitions()
        consumer = AIOKafkaConsumer(
            **kafka_client_kwargs(self.settings),
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            fetch_max_wait_ms=FETCH_WAIT_MS,
        )
        try:
            await consumer.start()
            consumer.assign(parts)
            for tp in parts:
                if tp in self.positions:  # reading again after an error: go on from there
                    consumer.seek(tp, self.positions[tp])
                else:
                    await consumer.seek_to_beginning(tp)
            if not self.targets:
                self.targets = await consumer.end_offsets(parts)
            self.problem = None
            while True:
                batch = await consumer.getmany(timeout_ms=POLL_MS, max_records=MAX_RECORDS)
                # Stage changes first: what /events sends waits for no state records.
                for tp in sorted(batch, key=lambda tp: tp.topic == self.topics[0]):
                    self.apply_batch(tp, batch[tp])
                for tp in parts:
                    highwater = consumer.highwater(tp)
                    if highwater is not None:
                        self.highwaters[tp] = highwater
                if not self.caught_up:
                    for tp in parts:  # past compacted gaps and empty partitions too
                        self.positions[tp] = await consumer.position(tp)
                    if all(self.positions[tp] >= end for tp, end in self.targets.items()):
                        self.caught_up = True
                        log.info("caught up: %d leads", len(self.replica.leads))
        finally:
            await consumer.stop()

    async def _partitions(self) -> list[TopicPartition]:
        """Every partition of the three topics, once the workers have created them all.

        Asking the broker about a topic by name creates it where the broker creates topics
        on demand (with its default partition count, not the workers'): a missing topic is
        only looked for in the list of all topics.
        """
        admin = AIOKafkaAdminClient(**kafka_client_kwargs(self.settings))
        await admin.start()
        try:
            while missing := [t for t in self.topics if t not in set(await admin.list_topics())]:
                self.problem = f"waiting for topic {missing[0]} (do the workers run?)"
                await asyncio.sleep(TOPICS_POLL_S)
            described = await admin.describe_topics(self.topics)
        finally:
            await admin.close()
        parts = [
            TopicPartition(d["topic"], p["partition"]) for d in described for p in d["partitions"]
        ]
        if {tp.topic for tp in parts} != set(self.topics):
            raise KafkaError(f"no partitions known yet for one of {', '.join(self.topics)}")
        return parts

    def apply_batch(self, tp: TopicPartition, records: list[Record]) -> None:
        """Apply one partition's fetched records (skipping, counting and logging bad ones)."""
        apply = self.apply[tp.topic]
        for record in records:
            try:
                apply(record)
            except BadRecord as exc:
                self.metrics.bad_records.labels(tp.topic).inc()
                log.warning("skipped %s[%d]@%d: %s", tp.topic, tp.partition, record.offset, exc)
        self.positions[tp] = records[-1].offset + 1
        self.metrics.records.labels(tp.topic).inc(len(records))

    def _stage_change(self, record: Record) -> None:
        change = self.replica.apply_change(record.key, record.value)
        if change is None or not self.caught_up or record.value is None:
            return  # a repeat, or history read while catching up
        self.metrics.visible.observe(max(0, wall_ms() - record.timestamp) / 1000)
        self.feed.publish(Item(change.change_id, record.value.decode("utf-8")))


def _one_line(exc: BaseException | None) -> str:
    if exc is None:
        return "unknown error"
    kind = type(exc).__name__
    text = str(exc).splitlines()[0] if str(exc) else ""
    return text if text.startswith(kind) else f"{kind}: {text}" if text else kind
