"""Shared helpers of the benchmark: progress output, bounded waits, offsets, topics."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import sys
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from streams.settings import Settings
from streams.worker.kafka_clients import kafka_client_kwargs

_STARTED = time.monotonic()
POLL_S = 0.25


@contextlib.contextmanager
def frozen_heap(*, collector_off: bool = False) -> Iterator[None]:
    """Keep what the bench process already holds out of the cyclic collector while timing.

    A worker freezes its heap once it has started (`streams.worker.runner`); the bench process
    does the same before each timed part, which gives the baseline loop the same treatment
    and keeps the latency follower from pausing: without it, full collections walking the
    bench's own event lists took 110-150 ms each in the middle of a latency run.
    `collector_off` also turns the collector off until the end: for the latency run's
    load generator and reader, the measuring instrument, whose young collections of the
    growing send and arrival records still took 3-20 ms each during the timed load.
    """
    gc.collect()
    gc.freeze()
    was_enabled = gc.isenabled()
    if collector_off:
        gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
        gc.unfreeze()


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
            "rules": "default",
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
    """Create topics (settings.partitions each) that do not exist yet; wait for their leaders."""
    wanted, compact = list(names), set(compacted)
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
            for name in wanted
            if name not in existing
        ]
        if new:
            with contextlib.suppress(TopicAlreadyExistsError):
                await admin.create_topics(new)

        async def led() -> bool:
            described = await admin.describe_topics(wanted)
            return all(
                d["error_code"] == 0
                and d["partitions"]
                and all(p["leader"] >= 0 for p in d["partitions"])
                for d in described
            )

        await wait_for(led, 30, f"partition leaders of {', '.join(wanted)}", interval=0.1)
    finally:
        await admin.close()


async def warm_up_groups(settings: Settings, topic: str) -> None:
    """Commit once in a throwaway group, so the broker's offsets topic exists before timing."""
    consumer = AIOKafkaConsumer(
        **kafka_client_kwargs(settings),
        group_id=f"{settings.topic_prefix}warm-up",
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        partition = TopicPartition(topic, 0)
        consumer.assign([partition])
        await consumer.commit({partition: 0})
    finally:
        await consumer.stop()


async def end_offsets(settings: Settings, topics: Iterable[str]) -> dict[TopicPartition, int]:
    """The current end offset of every partition of the topics."""
    async with OffsetWatch(settings) as watch:
        return await watch.ends(topics)


async def _partitions_of(admin: AIOKafkaAdminClient, topic: str) -> set[int]:
    deadline = time.monotonic() + 30
    while True:
        [described] = await admin.describe_topics([topic])
        if described["error_code"] == 0 and described["partitions"]:
            return {p["partition"] for p in described["partitions"]}
        if time.monotonic() >= deadline:
            raise TimeoutError(f"topic {topic} has no partitions after 30s")
        await asyncio.sleep(POLL_S)


class OffsetWatch:
    """Reads consumer groups' committed offsets and topics' end offsets over reused clients."""

    def __init__(self, settings: Settings) -> None:
        self.admin = AIOKafkaAdminClient(**kafka_client_kwargs(settings))
        self.consumer = AIOKafkaConsumer(**kafka_client_kwargs(settings), enable_auto_commit=False)
        self._partitions: dict[str, list[TopicPartition]] = {}
        self._rekeyed: dict[TopicPartition, int] | None = None  # see processed

    async def __aenter__(self) -> OffsetWatch:
        await self.admin.start()
        await self.consumer.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.consumer.stop()
        await self.admin.close()

    async def committed(self, *groups: str) -> dict[TopicPartition, int]:
        """Committed offset per partition of the groups (those without a commit left out)."""
        offsets: dict[TopicPartition, int] = {}
        for group in groups:
            found = await self.admin.list_consumer_group_offsets(group)
            offsets.update({tp: meta.offset for tp, meta in found.items() if meta.offset >= 0})
        return offsets

    async def processed(
        self,
        committed: dict[TopicPartition, int],
        input_ends: dict[TopicPartition, int],
        rekey_topic: str,
        ticks_too: bool = True,
    ) -> bool:
        """Whether a group's committed offsets cover the input up to input_ends and all
        that has been re-keyed so far (every event then has had its effect).

        With `ticks_too=False`, the re-key topic's end is taken once, when the input is
        covered: the timer goes on sending tick records to it every LEADQ_TIMER_INTERVAL_S,
        which are not part of the input, and a drain that waits for the latest of them
        ends only when a commit happens to come after a round.
        """
        if not reached(committed, input_ends):
            return False
        if ticks_too:
            return reached(committed, await self.ends([rekey_topic]))
        if self._rekeyed is None:
            self._rekeyed = await self.ends([rekey_topic])
        return reached(committed, self._rekeyed)

    async def ends(self, topics: Iterable[str]) -> dict[TopicPartition, int]:
        """The current end offset of every partition of the topics."""
        partitions: list[TopicPartition] = []
        for topic in topics:
            if topic not in self._partitions:
                found = await _partitions_of(self.admin, topic)
                self._partitions[topic] = [TopicPartition(topic, p) for p in sorted(found)]
            partitions.extend(self._partitions[topic])
        ends: dict[TopicPartition, int] = await self.consumer.end_offsets(partitions)
        return dict(ends)


TUNING_PREFIXES = ("BROKER_", "CONSUMER_", "PRODUCER_", "STREAM_", "TABLE_", "WORKER_")


def worker_overrides(environ: dict[str, str]) -> dict[str, str]:
    """Faust settings (and the leadq store) that the environment overrides for the workers.

    Workers inherit this process's environment, and faust reads e.g. PRODUCER_LINGER or
    BROKER_MAX_POLL_RECORDS from it, overriding the app's own values: a way to try tunings
    without editing the app, which the table then names.
    """
    return {
        k: v
        for k, v in sorted(environ.items())
        if k.startswith(TUNING_PREFIXES) or k == "LEADQ_STORE"
    }


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


def cpu_s(pid: int) -> float | None:
    """CPU seconds (user and system, all threads) a live process has used, from /proc."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text(encoding="ascii")
    except OSError:
        return None
    fields = text[text.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def read_range(
    settings: Settings, starts: dict[TopicPartition, int], ends: dict[TopicPartition, int]
) -> list[bytes]:
    """The values of the records between two offset snapshots of the same partitions."""
    wanted = {tp: (starts.get(tp, 0), end) for tp, end in ends.items() if end > starts.get(tp, 0)}
    if not wanted:
        return []
    consumer = AIOKafkaConsumer(**kafka_client_kwargs(settings), enable_auto_commit=False)
    await consumer.start()
    values: list[bytes] = []
    try:
        consumer.assign(list(wanted))
        for tp, (start, _) in wanted.items():
            consumer.seek(tp, start)
        remaining = dict(wanted)
        deadline = time.monotonic() + 120
        while remaining:
            if time.monotonic() >= deadline:
                raise TimeoutError(f"records of {sorted(map(str, remaining))} not read in 120s")
            batch = await consumer.getmany(*remaining, timeout_ms=500)
            for tp, messages in batch.items():
                end = remaining[tp][1]
                values.extend(m.value for m in messages if m.offset < end and m.value is not None)
                if messages and messages[-1].offset + 1 >= end:
                    del remaining[tp]
    finally:
        await consumer.stop()
    return values


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time a live process has used so far, from /proc/<pid>/stat."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text(encoding="ascii")
    except OSError:
        return None
    fields = text.rpartition(")")[2].split()  # after "pid (comm)": state is fields[0]
    ticks = int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
    return ticks / os.sysconf("SC_CLK_TCK")
