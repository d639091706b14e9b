"""Shared helpers of the benchmark: progress output, bounded waits, offsets, topics."""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from streams.kafka_clients import kafka_client_kwargs
from streams.settings import Settings

_STARTED = time.monotonic()
POLL_S = 0.25


def say(message: str) -> None:
    """One progress line on stderr, with the seconds since the benchmark started."""
    print(f"[bench {time.monotonic() - _STARTED:7.1f}s] {message}", file=sys.stderr, flush=True)


@dataclass(frozen=True)
class BenchEnv:
    """Where the benchmark runs: the broker, its own topic prefix and a scratch directory."""

    bootstrap: str
    prefix: str
    work_dir: Path
    partitions: int = 4

    def settings(self, suffix: str = "", **overrides: object) -> Settings:
        """Settings for one part of the benchmark (topic prefix `{prefix}{suffix}`)."""
        values: dict[str, object] = {
            "kafka_bootstrap_servers": self.bootstrap,
            "topic_prefix": f"{self.prefix}{suffix}",
            "data_dir": self.work_dir / (suffix.strip(".-") or "main"),
            "partitions": self.partitions,
        }
        values.update(overrides)
        return Settings(**values)  # type: ignore[arg-type]


async def wait_for(
    condition: Callable[[], Awaitable[bool]],
    timeout: float,
    what: str,
    interval: float = POLL_S,
) -> float:
    """Poll an async condition until it holds; return the monotonic time it was seen to hold.

    Raises TimeoutError naming `what` when it does not hold within `timeout` seconds.
    """
    deadline = time.monotonic() + timeout
    while True:
        if await condition():
            return time.monotonic()
        if time.monotonic() >= deadline:
            raise TimeoutError(f"{what}: not reached within {timeout:g}s")
        await asyncio.sleep(interval)


async def create_topics(
    settings: Settings, names: Iterable[str], compacted: Iterable[str] = ()
) -> None:
    """Create topics (settings.partitions each) that do not exist yet."""
    compact = set(compacted)
    admin = AIOKafkaAdminClient(**kafka_client_kwargs(settings))
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        new = [
            NewTopic(
                name,
                settings.partitions,
                settings.replication_factor,
                topic_configs={"cleanup.policy": "compact"} if name in compact else {},
            )
            for name in names
            if name not in existing
        ]
        if new:
            with contextlib.suppress(TopicAlreadyExistsError):
                await admin.create_topics(new)
    finally:
        await admin.close()


async def end_offsets(settings: Settings, topics: Iterable[str]) -> dict[TopicPartition, int]:
    """The current end offset of every partition of the topics."""
    consumer = AIOKafkaConsumer(**kafka_client_kwargs(settings), enable_auto_commit=False)
    await consumer.start()
    try:
        partitions: list[TopicPartition] = []
        for topic in topics:
            found = await _partitions_of(consumer, topic)
            partitions.extend(TopicPartition(topic, p) for p in sorted(found))
        ends: dict[TopicPartition, int] = await consumer.end_offsets(partitions)
        return dict(ends)
    finally:
        await consumer.stop()


async def _partitions_of(consumer: AIOKafkaConsumer, topic: str) -> set[int]:
    deadline = time.monotonic() + 30
    while True:
        await consumer._client.force_metadata_update()
        found = consumer.partitions_for_topic(topic)
        if found:
            return set(found)
        if time.monotonic() >= deadline:
            raise TimeoutError(f"topic {topic} has no partitions after 30s")
        await asyncio.sleep(POLL_S)


class GroupOffsets:
    """Reads a consumer group's committed offsets (one admin connection, reused)."""

    def __init__(self, settings: Settings) -> None:
        self.admin = AIOKafkaAdminClient(**kafka_client_kwargs(settings))

    async def __aenter__(self) -> GroupOffsets:
        await self.admin.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.admin.close()

    async def committed(self, group: str) -> dict[TopicPartition, int]:
        """Committed offset per partition (partitions without a commit are left out)."""
        found = await self.admin.list_consumer_group_offsets(group)
        return {tp: meta.offset for tp, meta in found.items() if meta.offset >= 0}


def reached(committed: dict[TopicPartition, int], targets: dict[TopicPartition, int]) -> bool:
    """Whether every target partition's committed offset is at (or past) its target."""
    return all(target == 0 or committed.get(tp, 0) >= target for tp, target in targets.items())


def total(offsets: dict[TopicPartition, int]) -> int:
    """The sum of the offsets (records per partition when the log starts at 0)."""
    return sum(offsets.values())


def vm_hwm_mb(pid: int) -> float | None:
    """Peak resident set size (VmHWM) of a live process in MiB, from /proc."""
    try:
        text = Path(f"/proc/{pid}/status").read_text(encoding="ascii")
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return None
