"""Producers of their own for the worker's outputs, apart from faust's (changelog) producer."""

from __future__ import annotations

import asyncio
from typing import Any

from aiokafka import AIOKafkaProducer
from mode import Service

from streams.settings import Settings
from streams.worker.kafka_clients import kafka_client_kwargs


class OutputProducer(Service):
    """An idempotent producer (acks=all), started on first use and stopped with the app.

    aiokafka keeps one produce request in flight per broker and producer. Behind faust's
    producer, which carries a changelog record for every stored state, the qualify agent
    waited about 13 ms for the acks of a record's stage changes at 2,000 events/s; with a
    producer of its own, about half that (both on a busy 2-core machine).
    """

    def __init__(self, settings: Settings, linger_ms: int = 0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.settings = settings
        self.linger_ms = linger_ms
        self._producer: AIOKafkaProducer | None = None
        self._starting = asyncio.Lock()
        self._stopping = False

    async def send(
        self, topic: str, key: bytes | None, value: bytes, partition: int | None = None
    ) -> asyncio.Future[Any]:
        """Queue a record; returns the future of its acknowledgement."""
        if self._stopping:
            raise RuntimeError("the worker is stopping")
        producer = self._producer or await self._start_producer()
        ack: asyncio.Future[Any] = await producer.send(
            topic, key=key, value=value, partition=partition
        )
        return ack

    async def _start_producer(self) -> AIOKafkaProducer:
        async with self._starting:
            if self._producer is None:
                producer = AIOKafkaProducer(
                    **kafka_client_kwargs(self.settings),
                    acks="all",
                    enable_idempotence=True,
                    linger_ms=self.linger_ms,
                )
                await producer.start()
                self._producer = producer
            return self._producer

    async def on_stop(self) -> None:
        """Deliver what is queued, then disconnect (later sends fail: the agent's record is
        then processed again after the restart)."""
        self._stopping = True
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None
