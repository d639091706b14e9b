"""Input messages read back by position, so that a dead letter raised after re-keying
carries the original message: its topic, partition, offset, key and bytes."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any, Final, Protocol, cast

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError
from mode import Service

from schemas.decode import TopicKind
from streams.core.events import EventOrigin
from streams.settings import Settings
from streams.worker.kafka_clients import kafka_client_kwargs
from streams.worker.topics import TopicNames

log = logging.getLogger(__name__)

READ_TIMEOUT_S: Final = 10.0  # beyond this, the dead letter falls back to the re-keyed form


@dataclass(frozen=True, slots=True)
class OriginalMessage:
    """An input message as it was produced."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None


class OriginalSource(Protocol):
    """Reads an input message back by its origin (InputReader, or a stand-in in tests)."""

    async def read(self, origin: EventOrigin) -> OriginalMessage | None:
        """The message at origin, or None when it cannot be read."""
        ...


class InputReader(Service):
    """Reads single input messages by (topic, partition, offset), with a consumer of its own
    that belongs to no group and commits nothing. Used only for rejections, which are rare;
    one read at a time."""

    def __init__(self, settings: Settings, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.settings = settings
        self.names = TopicNames.of(settings)
        self._consumer: AIOKafkaConsumer | None = None
        self._lock = asyncio.Lock()

    async def read(self, origin: EventOrigin) -> OriginalMessage | None:
        """The message at origin; None when it cannot be read (deleted by retention, or
        the broker did not answer within READ_TIMEOUT_S)."""
        topic = self.names.inputs.get(cast(TopicKind, origin.topic))
        if topic is None:
            return None
        tp = TopicPartition(topic, origin.partition)
        async with self._lock:
            try:
                return await asyncio.wait_for(self._read(tp, origin.offset), READ_TIMEOUT_S)
            except (TimeoutError, KafkaError) as exc:
                log.warning(
                    "could not read back %s:%d@%d (%r)", topic, tp.partition, origin.offset, exc
                )
                return None

    async def _read(self, tp: TopicPartition, offset: int) -> OriginalMessage | None:
        consumer = self._consumer or await self._start()
        consumer.assign([tp])
        consumer.seek(tp, offset)
        while True:
            fetched = await consumer.getmany(tp, timeout_ms=1_000, max_records=1)
            for message in fetched.get(tp, ()):
                if message.offset != offset:  # the message is gone (retention)
                    return None
                return OriginalMessage(
                    message.topic, message.partition, message.offset, message.key, message.value
                )

    async def _start(self) -> AIOKafkaConsumer:
        consumer = AIOKafkaConsumer(
            **kafka_client_kwargs(self.settings),
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
        )
        await consumer.start()
        self._consumer = consumer
        return consumer

    async def on_stop(self) -> None:
        """Disconnect."""
        if self._consumer is not None:
            await self._consumer.stop()
