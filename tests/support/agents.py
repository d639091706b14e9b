"""Helpers for testing the worker's agents in isolation: recorded sends, the ingest stage."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
from aiokafka import ConsumerRecord

from schemas.decode import TopicKind
from streams.worker.app import Worker
from streams.worker.ingest import rekey

AGENT_TIMEOUT_S = 10.0


class Recorder:
    """Stands in for a topic's send(): records what an agent sends."""

    def __init__(self) -> None:
        self.sent: list[tuple[bytes | None, Any]] = []
        self.partitions: list[int | None] = []

    async def send(
        self, *, key: bytes | None = None, value: bytes, partition: int | None = None, **_: Any
    ) -> asyncio.Future[None]:
        self.record(key, value, partition)
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done

    def record(self, key: bytes | None, value: bytes, partition: int | None = None) -> None:
        self.sent.append((key, orjson.loads(value)))
        self.partitions.append(partition)


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
    batch = rekey(fetched, {topic: kind}, worker.settings.partitions)
    for record in batch.records:
        outputs["by_lead"].record(record["key"], record["value"], record["partition"])
    for key, value in batch.dead_letters:
        outputs["dead_letter"].record(key, value)


def record_outputs(worker: Worker) -> dict[str, Recorder]:
    """Recorders in place of the worker's sends: faust topics' and its output producer's."""
    recorders = {name: Recorder() for name in ("by_lead", "stage_changes", "dead_letter")}
    for name, recorder in recorders.items():
        setattr(getattr(worker, name), "send", recorder.send)  # noqa: B010
    by_topic = {getattr(worker, name).get_topic_name(): r for name, r in recorders.items()}

    async def send(
        topic: str, key: bytes | None, value: bytes, partition: int | None = None
    ) -> asyncio.Future[None]:
        return await by_topic[topic].send(key=key, value=value, partition=partition)

    setattr(worker.outputs, "send", send)  # noqa: B010
    return recorders
