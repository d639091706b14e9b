"""Changelog records go to faust's producer as whole batches, one future per batch."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest
from aiokafka.producer.message_accumulator import BatchBuilder
from aiokafka.record.default_records import DefaultRecordBatch
from aiokafka.structs import RecordMetadata, TopicPartition

from streams.worker.faust_ext.changelog_batches import FaustChangelog

pytestmark = pytest.mark.asyncio

TOPIC = "u.leadq-lead-state-changelog"


class Producer:
    """aiokafka's batch interface (create_batch, send_batch) over a log per partition,
    acknowledged when the test says so."""

    def __init__(self, batch_size: int) -> None:
        self.batch_size = batch_size
        self.log: dict[int, list[tuple[bytes | None, bytes | None]]] = {}
        self.unacked: list[tuple[asyncio.Future[Any], int, int]] = []

    def create_batch(self) -> BatchBuilder:
        return BatchBuilder(self.batch_size, 0)

    async def send_batch(
        self, batch: BatchBuilder, topic: str, *, partition: int
    ) -> asyncio.Future[Any]:
        assert batch.closed()
        records = list(DefaultRecordBatch(bytearray(batch._build())))
        log = self.log.setdefault(partition, [])
        base = len(log)
        log.extend((r.key, r.value) for r in records)
        acked: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.unacked.append((acked, partition, base))
        return acked

    def ack_all(self, failure: Exception | None = None) -> None:
        for acked, partition, base in self.unacked:
            if failure is not None:
                acked.set_exception(failure)
            else:
                tp = TopicPartition(TOPIC, partition)
                acked.set_result(RecordMetadata(TOPIC, partition, tp, base, -1, 0, 0))
        self.unacked.clear()


def changelog(producer: Producer) -> FaustChangelog:
    app: Any = SimpleNamespace(producer=SimpleNamespace(_ensure_producer=lambda: producer))
    return FaustChangelog(app)


async def test_a_partitions_records_go_in_order_in_as_few_batches_as_fit() -> None:
    producer = Producer(batch_size=1_000)
    records = [(f"L{n}".encode(), b"x" * 150) for n in range(20)]  # about 6 a batch
    sent = await changelog(producer).send_records(TOPIC, 2, records)
    assert producer.log[2] == records
    assert 3 <= len(sent) <= 4
    assert not any(f.done() for f in sent)  # until the broker acknowledges them
    producer.ack_all()
    offsets = [await f for f in sent]
    assert offsets[-1] == len(records) - 1  # the last record's offset
    assert offsets == sorted(offsets)


async def test_a_record_larger_than_a_batch_goes_in_a_batch_of_its_own() -> None:
    producer = Producer(batch_size=100)
    records = [(b"A", b"y" * 500), (b"B", b"z")]
    sent = await changelog(producer).send_records(TOPIC, 0, records)
    assert producer.log[0] == records
    producer.ack_all()
    assert [await f for f in sent] == [0, 1]


async def test_a_failed_batch_fails_its_future() -> None:
    producer = Producer(batch_size=1_000)
    [sent] = await changelog(producer).send_records(TOPIC, 1, [(b"A", b"{}")])
    producer.ack_all(RuntimeError("broker gone"))
    with pytest.raises(RuntimeError, match="broker gone"):
        await sent
