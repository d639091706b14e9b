"""Test helpers on a real broker: settings per test, worker processes, producing, collecting."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import uuid
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from streams.runner import READY_LINE
from streams.settings import Settings

WORKER_READY_TIMEOUT_S = 90.0
WORKER_STOP_TIMEOUT_S = 20.0
COLLECT_TIMEOUT_S = 60.0


def unique_prefix(name: str) -> str:
    """A fresh topic prefix (and so consumer group and changelog) for one test."""
    safe = "".join(c if c.isalnum() else "-" for c in name)[:40]
    return f"t-{safe}-{uuid.uuid4().hex[:8]}."


def worker_env(settings: Settings) -> dict[str, str]:
    """The environment a worker process needs for these settings."""
    env = dict(os.environ)
    env.update(
        {
            "KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap_servers,
            "LEADQ_TOPIC_PREFIX": settings.topic_prefix,
            "LEADQ_RULES": settings.rules,
            "LEADQ_DATA_DIR": str(settings.data_dir),
            "LEADQ_PARTITIONS": str(settings.partitions),
            "LEADQ_STORE": settings.store,
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


@dataclass
class WorkerProcess:
    """A `leadq run` process and the lines it printed."""

    proc: asyncio.subprocess.Process
    lines: list[str] = field(default_factory=list)
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    reader: asyncio.Task[None] | None = None

    async def _read(self) -> None:
        assert self.proc.stdout is not None
        async for raw in self.proc.stdout:
            line = raw.decode("utf-8", "replace").rstrip()
            self.lines.append(line)
            if READY_LINE in line:
                self.ready.set()

    async def wait_ready(self, timeout: float = WORKER_READY_TIMEOUT_S) -> None:
        waiter = asyncio.ensure_future(self.ready.wait())
        exited = asyncio.ensure_future(self.proc.wait())
        done, _ = await asyncio.wait(
            {waiter, exited}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
        )
        waiter.cancel()
        exited.cancel()
        if not self.ready.is_set():
            tail = "\n".join(self.lines[-30:])
            state = "exited" if exited in done else f"not ready after {timeout}s"
            raise AssertionError(f"worker {state}; last output:\n{tail}")

    async def stop(self, sig: int = signal.SIGTERM) -> int:
        if self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(sig)
            try:
                await asyncio.wait_for(self.proc.wait(), WORKER_STOP_TIMEOUT_S)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()
        if self.reader is not None:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(self.reader, 5)
        return self.proc.returncode or 0


async def start_worker(settings: Settings, *, wait: bool = True) -> WorkerProcess:
    """Start `leadq run` for these settings; by default wait until it has its partitions."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "streams.cli",
        "run",
        "--loglevel",
        "warn",
        env=worker_env(settings),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        cwd=Path(__file__).resolve().parents[1],
    )
    worker = WorkerProcess(proc)
    worker.reader = asyncio.ensure_future(worker._read())
    if wait:
        await worker.wait_ready()
    return worker


@contextlib.asynccontextmanager
async def running_workers(settings: Settings, count: int = 1) -> AsyncIterator[list[WorkerProcess]]:
    """Start `count` workers in one consumer group, one after another; stop them all after."""
    workers: list[WorkerProcess] = []
    try:
        for _ in range(count):
            workers.append(await start_worker(settings))
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


async def collect(
    settings: Settings,
    topic: str,
    until: Callable[[list[dict[str, Any]]], bool],
    timeout: float = COLLECT_TIMEOUT_S,
    settle_s: float = 0.0,
) -> list[dict[str, Any]]:
    """Read a topic from the start until `until(records)` holds (bounded by timeout).

    With settle_s, keep reading that long after the condition holds, to catch records
    that should not be there (duplicates, extra changes).
    """
    consumer = AIOKafkaConsumer(
        settings.topic(topic),
        bootstrap_servers=settings.bootstrap_list,
        group_id=None,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    records: list[dict[str, Any]] = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    settle_until: float | None = None
    try:
        while True:
            now = loop.time()
            if settle_until is not None and now >= settle_until:
                return records
            if now >= deadline:
                raise AssertionError(
                    f"condition on {topic} not met within {timeout}s; got {len(records)} records"
                )
            batch = await consumer.getmany(timeout_ms=200)
            for messages in batch.values():
                records.extend(orjson.loads(m.value) for m in messages)
            if settle_until is None and until(records):
                if settle_s <= 0:
                    return records
                settle_until = loop.time() + settle_s
    finally:
        await consumer.stop()


class EventsByLeadWatcher:
    """Follows the worker's internal re-keyed topic, to produce a lead's steps in order.

    Steps of one lead often go to different input topics, which a worker reads
    concurrently; a test that needs one exact order produces a step only after the
    previous one has been re-keyed.
    """

    def __init__(self, settings: Settings) -> None:
        from streams.topics import TopicNames

        self.topic = TopicNames.of(settings).events_by_lead
        self.consumer = AIOKafkaConsumer(
            self.topic,
            bootstrap_servers=settings.bootstrap_list,
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

    async def wait_for(self, event_id: str, timeout: float = COLLECT_TIMEOUT_S) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while event_id not in self.seen:
            if loop.time() >= deadline:
                raise AssertionError(f"{event_id} was not re-keyed within {timeout}s")
            batch = await self.consumer.getmany(timeout_ms=100)
            for messages in batch.values():
                self.seen.update(orjson.loads(m.value)["i"] for m in messages)


async def produce_in_order(
    settings: Settings, messages: list[tuple[str, bytes | None, bytes]]
) -> None:
    """Produce messages one by one, each after the worker has re-keyed the previous one."""
    async with EventsByLeadWatcher(settings) as watcher:
        for message in messages:
            await produce(settings, [message])
            await watcher.wait_for(orjson.loads(message[2])["event_id"])
