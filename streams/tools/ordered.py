"""Produce a lead's events in one exact processing order, across input topics."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from streams.settings import Settings
from streams.worker.codec import rekeyed_event_ids
from streams.worker.kafka_clients import kafka_client_kwargs
from streams.worker.topics import TopicNames

REKEY_TIMEOUT_S = 60.0


class EventsByLeadWatcher:
    """Follows the worker's internal re-keyed topic to see which events it has taken in.

    A worker reads its input topics concurrently, so two events of one lead sent to two
    topics may be processed in either order. Sending an event only after the previous one
    was re-keyed fixes the order (the demo and the scenario tests need that).
    """

    def __init__(self, settings: Settings) -> None:
        self.consumer = AIOKafkaConsumer(
            TopicNames.of(settings).events_by_lead,
            **kafka_client_kwargs(settings),
            group_id=None,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
        )
        self.seen: set[str] = set()

    async def __aenter__(self) -> EventsByLeadWatcher:
        await self.consumer.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.consumer.stop()

    async def wait_for(self, event_id: str, timeout: float = REKEY_TIMEOUT_S) -> None:
        """Return once the event is on the re-keyed topic; AssertionError after timeout."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while event_id not in self.seen:
            if loop.time() >= deadline:
                raise TimeoutError(f"event {event_id} was not taken in within {timeout}s")
            batch = await self.consumer.getmany(timeout_ms=100)
            for messages in batch.values():
                for m in messages:
                    self.seen.update(rekeyed_event_ids(m.value))


async def produce_in_order(
    settings: Settings, messages: Sequence[tuple[str, bytes | None, bytes]]
) -> None:
    """Send (topic without prefix, key, value) one by one, each after the previous was taken in."""
    producer = AIOKafkaProducer(**kafka_client_kwargs(settings), acks="all")
    await producer.start()
    try:
        async with EventsByLeadWatcher(settings) as watcher:
            for topic, key, value in messages:
                await producer.send_and_wait(settings.topic(topic), value=value, key=key)
                await watcher.wait_for(orjson.loads(value)["event_id"])
    finally:
        await producer.stop()
