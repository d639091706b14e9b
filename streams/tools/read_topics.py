"""Read whole topics, from their beginning to their end at the time of the call."""

from __future__ import annotations

from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from streams.settings import Settings
from streams.worker.kafka_clients import kafka_client_kwargs

FETCH_WAIT_MS = 500


class MissingTopic(LookupError):
    """A topic to read does not exist."""

    def __init__(self, topic: str) -> None:
        super().__init__(topic)
        self.topic = topic


class UnreadableRecord(ValueError):
    """A record whose value is not JSON."""


async def partitions_of(settings: Settings, topics: list[str]) -> dict[str, list[int]]:
    """The partitions of each topic (MissingTopic for one that does not exist)."""
    admin = AIOKafkaAdminClient(**kafka_client_kwargs(settings))
    await admin.start()
    try:
        described = await admin.describe_topics(topics)
    finally:
        await admin.close()
    found: dict[str, list[int]] = {}
    for d in described:
        if d["error_code"] != 0 or not d["partitions"]:
            raise MissingTopic(d["topic"])
        found[d["topic"]] = sorted(p["partition"] for p in d["partitions"])
    return found


async def read_json_topics(settings: Settings, topics: list[str]) -> dict[str, list[Any]]:
    """Every record of each topic (JSON values, in partition order), up to the topics' end
    offsets when reading starts: records written meanwhile are left for the next read."""
    parts = [
        TopicPartition(topic, p)
        for topic, ps in (await partitions_of(settings, topics)).items()
        for p in ps
    ]
    consumer = AIOKafkaConsumer(
        **kafka_client_kwargs(settings),
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    records: dict[str, list[Any]] = {topic: [] for topic in topics}
    try:
        await consumer.start()  # inside: a consumer that could not connect is closed too
        consumer.assign(parts)
        await consumer.seek_to_beginning(*parts)
        end: dict[TopicPartition, int] = await consumer.end_offsets(parts)
        while [tp for tp in parts if await consumer.position(tp) < end[tp]]:
            batch = await consumer.getmany(timeout_ms=FETCH_WAIT_MS)
            for tp, messages in batch.items():
                for m in messages:
                    if m.offset >= end[tp]:
                        continue
                    try:
                        records[tp.topic].append(orjson.loads(m.value))
                    except (orjson.JSONDecodeError, TypeError):
                        raise UnreadableRecord(
                            f"{tp.topic}[{tp.partition}]@{m.offset} is not a JSON record"
                        ) from None
    finally:
        await consumer.stop()
    return records
