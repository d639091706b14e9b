"""Helpers for testing the worker's agents in isolation: recorded sends, the ingest stage."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import orjson
from aiokafka import ConsumerRecord

from schemas.decode import TopicKind
from streams.core.events import EventOrigin, LeadEvent
from streams.settings import Settings
from streams.worker.app import Worker, build
from streams.worker.cloudevents import Headers
from streams.worker.codec import decode_rekeyed, join_rekeyed, rekeyed_item
from streams.worker.ingest import rekey
from streams.worker.originals import OriginalMessage
from streams.worker.topics import TopicNames

AGENT_TIMEOUT_S = 10.0


class Recorder:
    """Stands in for a topic's send(): records what an agent sends."""

    def __init__(self, by_lead: bool = False) -> None:
        self.by_lead = by_lead  # values are events-by-lead records (of either form)
        self.sent: list[tuple[bytes | None, Any]] = []
        self.values: list[bytes] = []  # as sent
        self.partitions: list[int | None] = []
        self.headers: list[Headers | None] = []

    async def send(
        self,
        *,
        key: bytes | None = None,
        value: bytes,
        partition: int | None = None,
        headers: Headers | None = None,
    ) -> asyncio.Future[None]:
        self.record(key, value, partition)
        self.headers[-1] = headers
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done

    def record(self, key: bytes | None, value: bytes, partition: int | None = None) -> None:
        # An events-by-lead record as its (partition key, event) pairs; others as JSON.
        decoded = decode_rekeyed(value, key) if self.by_lead else orjson.loads(value)
        self.sent.append((key, decoded))
        self.values.append(value)
        self.partitions.append(partition)
        self.headers.append(None)


def by_lead_bytes(pairs: list[tuple[str, LeadEvent]]) -> bytes:
    """A recorded events-by-lead record (its pairs) as bytes again, to hand to the agent."""
    return join_rekeyed([rekeyed_item(key, event) for key, event in pairs])


class RecordingOutputs:
    """Stands in for the worker's output producer (RecordSender): each topic's records go
    to its Recorder."""

    def __init__(self, by_topic: dict[str, Recorder]) -> None:
        self.by_topic = by_topic

    async def send(
        self,
        topic: str,
        key: bytes | None,
        value: bytes,
        partition: int | None = None,
        headers: Headers | None = None,
    ) -> asyncio.Future[Any]:
        recorder = self.by_topic[topic]
        return await recorder.send(key=key, value=value, partition=partition, headers=headers)

    async def send_records(
        self, topic: str, partition: int, records: Sequence[tuple[bytes, bytes]]
    ) -> list[asyncio.Future[int]]:
        """As a ChangelogSender: the records in one batch, acknowledged at once."""
        recorder = self.by_topic[topic]
        for key, value in records:
            recorder.record(key, value, partition)
        done: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        done.set_result(len(recorder.sent) - 1)
        return [done]


class RecordedInputs:
    """Stands in for the worker's InputReader (OriginalSource): the input messages that
    `ingest` passed through, read back by their origin."""

    def __init__(self) -> None:
        self.messages: dict[tuple[str, int, int], OriginalMessage] = {}

    def add(self, kind: str, message: OriginalMessage) -> None:
        self.messages[(kind, message.partition, message.offset)] = message

    async def read(self, origin: EventOrigin) -> OriginalMessage | None:
        return self.messages.get((origin.topic, origin.partition, origin.offset))


def recording_worker(settings: Settings) -> tuple[Worker, dict[str, Recorder]]:
    """A worker whose qualify agent sends to Recorders (by_lead, stage_changes, lead_stages,
    sla, dead_letter, shadow_stage_changes, changelog) instead of Kafka."""
    kinds = (
        "by_lead",
        "stage_changes",
        "lead_stages",
        "sla",
        "dead_letter",
        "shadow_stage_changes",
        "changelog",
    )
    recorders = {name: Recorder(by_lead=name == "by_lead") for name in kinds}
    names = TopicNames.of(settings)
    outputs = RecordingOutputs(
        {
            names.events_by_lead: recorders["by_lead"],
            names.stage_changes: recorders["stage_changes"],
            names.lead_stages: recorders["lead_stages"],
            names.sla: recorders["sla"],
            names.dead_letter: recorders["dead_letter"],
            names.shadow_stage_changes: recorders["shadow_stage_changes"],
            names.changelog: recorders["changelog"],
        }
    )
    worker = build(
        settings,
        outputs=outputs,
        dead_letter_sender=recorders["dead_letter"],
        originals=RecordedInputs(),
        changelog=outputs,
    )
    return worker, recorders


def ingest(
    worker: Worker,
    outputs: dict[str, Recorder],
    kind: TopicKind,
    *messages: tuple[bytes | None, bytes],
) -> None:
    """Pass input messages through the ingest stage's rekey(), as one batch of one partition,
    and record the events-by-lead records and dead letters the stage would send."""
    topic = worker.topics.inputs[kind]
    fetched = [
        ConsumerRecord(topic, 0, offset, 0, 0, key, value, None, 0, len(value), ())
        for offset, (key, value) in enumerate(messages)
    ]
    inputs = worker.agent.dead_letters.originals
    if isinstance(inputs, RecordedInputs):
        for m in fetched:
            inputs.add(kind, OriginalMessage(m.topic, m.partition, m.offset, m.key, m.value))
    batch = rekey(
        fetched, {topic: kind}, worker.settings.partitions, form=worker.settings.rekey_format
    )
    for record in batch.records:
        outputs["by_lead"].record(record["key"], record["value"], record["partition"])
    for key, value in batch.dead_letters:
        outputs["dead_letter"].record(key, value)
