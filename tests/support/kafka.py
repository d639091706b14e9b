"""Test helpers on a real broker: settings per test, worker processes, producing, collecting."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Callable, Iterable
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord

from streams.settings import Settings
from streams.worker.launch import WorkerProcess, start_worker

COLLECT_TIMEOUT_S = 60.0


def unique_prefix(name: str) -> str:
    """A fresh topic prefix (and so consumer group and changelog) for one test."""
    safe = "".join(c if c.isalnum() else "-" for c in name)[:40]
    return f"t-{safe}-{uuid.uuid4().hex[:8]}."


@contextlib.asynccontextmanager
async def running_workers(settings: Settings, count: int = 1) -> AsyncIterator[list[WorkerProcess]]:
    """Start `count` workers in one consumer group, one after another; stop them all after."""
    workers: list[WorkerProcess] = []
    try:
        for i in range(count):
            workers.append(await start_worker(settings, data_dir=settings.data_dir / f"w{i}"))
        yield workers
    finally:
        for worker in workers:
            await worker.stop()


async def produce(
    settings: Settings, messages: Iterable[tuple[str, bytes | None, bytes | None]]
) -> int:
    """Send (topic suffix such as 'leads.website', key, value) messages; wait for all acks."""
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.bootstrap_list, acks="all", enable_idempotence=True
    )
    await producer.start()
    count = 0
    try:
        futures = []
        for topic, key, value in messages:
            futures.append(await producer.send(settings.topic(topic), value=value, key=key))
            count += 1
        await asyncio.gather(*futures)
    finally:
        await producer.stop()
    return count


class ConditionNotMet(AssertionError):
    """collect() timed out; `records` is what it had read by then."""

    def __init__(self, message: str, records: list[dict[str, Any]]) -> None:
        super().__init__(message)
        self.records = records


async def collect(
    settings: Settings,
    topic: str,
    until: Callable[[list[dict[str, Any]]], bool],
    timeout: float = COLLECT_TIMEOUT_S,
    settle_s: float = 0.0,
) -> list[dict[str, Any]]:
    """Read a topic's values (JSON) from the start until `until(values)` holds (bounded by
    timeout).

    With settle_s, keep reading that long after the condition holds, to catch records
    that should not be there (duplicates, extra changes).
    """
    values: list[dict[str, Any]] = []

    def enough(records: list[ConsumerRecord[bytes, bytes]]) -> bool:
        values.extend(orjson.loads(r.value) for r in records[len(values) :])
        return until(values)

    try:
        await collect_records(settings, topic, enough, timeout, settle_s)
    except ConditionNotMet as exc:
        raise ConditionNotMet(str(exc), values) from None
    return values


async def collect_records(
    settings: Settings,
    topic: str,
    until: Callable[[list[ConsumerRecord[bytes, bytes]]], bool],
    timeout: float = COLLECT_TIMEOUT_S,
    settle_s: float = 0.0,
) -> list[ConsumerRecord[bytes, bytes]]:
    """collect() for whole records (key, value, headers), not only their values."""
    consumer = AIOKafkaConsumer(
        settings.topic(topic),
        bootstrap_servers=settings.bootstrap_list,
        group_id=None,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    records: list[ConsumerRecord[bytes, bytes]] = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    settle_until: float | None = None
    try:
        while True:
            now = loop.time()
            if settle_until is not None and now >= settle_until:
                until(records)
                return records
            if now >= deadline:
                raise ConditionNotMet(
                    f"condition on {topic} not met within {timeout}s; got {len(records)} records",
                    [],
                )
            batch = await consumer.getmany(timeout_ms=200)
            for messages in batch.values():
                records.extend(messages)
            if settle_until is None and until(records):
                if settle_s <= 0:
                    return records
                settle_until = loop.time() + settle_s
    finally:
        await consumer.stop()
