"""The locally started Apache Kafka serves aiokafka and librdkafka (confluent-kafka) alike."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient

pytestmark = pytest.mark.integration

CLIENT_TIMEOUT_S = 30.0


async def read_values(bootstrap: str, topic: str, count: int) -> list[bytes]:
    """The first `count` values of a topic, read with aiokafka."""
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", group_id=None
    )
    await consumer.start()
    try:
        got: list[bytes] = []
        while len(got) < count:
            batch = await asyncio.wait_for(consumer.getmany(timeout_ms=500), CLIENT_TIMEOUT_S)
            got.extend(m.value for ms in batch.values() for m in ms)
        return got
    finally:
        await consumer.stop()


@pytest.mark.asyncio
async def test_aiokafka_produces_and_consumes(kafka_bootstrap: str) -> None:
    topic = f"t-aiokafka-{uuid.uuid4().hex[:8]}"
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    await producer.start()
    try:
        for i in range(10):
            await producer.send_and_wait(topic, f"v{i}".encode(), key=b"k")
    finally:
        await producer.stop()
    got = await read_values(kafka_bootstrap, topic, 10)
    assert got == [f"v{i}".encode() for i in range(10)]


@pytest.mark.asyncio
async def test_librdkafka_sees_the_broker_and_what_it_produces_is_read_by_aiokafka(
    kafka_bootstrap: str,
) -> None:
    host, _, port = kafka_bootstrap.rpartition(":")
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    metadata = await asyncio.to_thread(admin.list_topics, timeout=CLIENT_TIMEOUT_S)
    brokers = [(str(b.host), b.port) for b in metadata.brokers.values()]
    assert brokers == [(host, int(port))]
    assert metadata.cluster_id

    topic = f"t-librdkafka-{uuid.uuid4().hex[:8]}"
    producer = Producer({"bootstrap.servers": kafka_bootstrap, "acks": "all"})
    for i in range(5):
        producer.produce(topic, value=f"r{i}".encode(), key=b"k")
    assert await asyncio.to_thread(producer.flush, CLIENT_TIMEOUT_S) == 0
    got = await read_values(kafka_bootstrap, topic, 5)
    assert got == [f"r{i}".encode() for i in range(5)]
