"""faust's producer for the lead states' changelog: records sent as whole record batches."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import faust
from aiokafka import AIOKafkaProducer
from aiokafka.producer.message_accumulator import BatchBuilder


class FaustChangelog:
    """Changelog records through faust's producer (the aiokafka producer faust flushes
    before it commits; the commit also waits for the futures handed to the tracker, see
    faust_ext/fixes.py, SendTracker), as whole record batches: one future, one
    acknowledgement callback and one RecordMetadata per batch instead of per record."""

    def __init__(self, app: faust.App) -> None:
        self.app = app

    async def send_records(
        self, topic: str, partition: int, records: Sequence[tuple[bytes, bytes]]
    ) -> list[asyncio.Future[int]]:
        """Queue a partition's records in order, in batches as large as the producer's
        (see lead_store.ChangelogSender)."""
        producer: AIOKafkaProducer = self.app.producer._ensure_producer()  # started
        sent: list[asyncio.Future[int]] = []
        batch = producer.create_batch()
        count = 0
        for key, value in records:
            if batch.append(key=key, value=value, timestamp=None) is None:  # full
                sent.append(await _send_batch(producer, batch, count, topic, partition))
                batch = producer.create_batch()
                count = 0
                batch.append(key=key, value=value, timestamp=None)  # an empty batch takes one
            count += 1
        if count:
            sent.append(await _send_batch(producer, batch, count, topic, partition))
        return sent


async def _send_batch(
    producer: AIOKafkaProducer, batch: BatchBuilder, count: int, topic: str, partition: int
) -> asyncio.Future[int]:
    """Send a batch of `count` records; the future of its last record's offset."""
    batch.close()  # nothing else is appended to it
    acked = await producer.send_batch(batch, topic, partition=partition)
    last: asyncio.Future[int] = asyncio.get_running_loop().create_future()

    def settle(acked: asyncio.Future[Any]) -> None:
        if acked.cancelled():
            last.cancel()
        elif (exc := acked.exception()) is not None:
            last.set_exception(exc)
        else:
            last.set_result(acked.result().offset + count - 1)  # the batch's base offset

    acked.add_done_callback(settle)
    return last
