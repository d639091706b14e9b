"""Latency from producing an event to its stage change being readable, at a fixed offered load."""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field
from pathlib import Path

import orjson
from aiokafka import AIOKafkaConsumer

from bench.common import OffsetWatch, frozen_heap, say, wait_for
from bench.latency_hops import Arrival, hops_ms, rekeyed_times
from bench.preload import simulate_events
from bench.report import kept_up
from bench.wake_probe import WakeProbe
from bench.worker import launch
from streams.settings import Settings
from streams.tools.simulate.event import SimEvent
from streams.tools.simulate.output import produce
from streams.worker.ingest import COMMIT_INTERVAL_S
from streams.worker.kafka_clients import kafka_client_kwargs
from streams.worker.launch import output_tail
from streams.worker.topics import TopicNames, ensure_topics

MIN_RATE = 100.0  # events/s below which the drain is abandoned (timeout)
WARM_UP_TIMEOUT_S = 120.0  # a fresh worker takes in its first events within seconds
WARM_UP_S = 3.0  # seconds of the offered load sent to other leads before the timed load
# The load generator sends each event as it comes, like a site's tracker: the latency is
# measured from the send, and a producer that held events back (the simulator's default
# linger is 5 ms) would add its own wait to leadq's. Until 2026-11-28 it lingered 5 ms.
LOAD_LINGER_MS = 0


@dataclass
class LatencyResult:
    """Latency samples (ms, one per stage change) and how the worker coped with the load."""

    offered_rate: float
    events: int
    send_s: float
    done_s: float
    samples_ms: list[float] = field(default_factory=list)
    wake_late_ms: list[float] = field(default_factory=list)  # see WakeProbe
    hops_ms: list[tuple[float, float, float]] = field(default_factory=list)  # latency_hops

    @property
    def sent_rate(self) -> float:
        """The rate the producer actually achieved (events/s)."""
        return self.events / self.send_s if self.send_s > 0 else 0.0

    @property
    def processed_rate(self) -> float:
        """Events processed per second, from the first send until all were processed.

        The end is seen when the worker's consumer groups have committed the last offsets,
        which they do every COMMIT_INTERVAL_S: up to that long after the processing.
        """
        busy_s = max(self.send_s, self.done_s - COMMIT_INTERVAL_S)
        return self.events / busy_s if busy_s > 0 else 0.0

    @property
    def kept_up(self) -> bool:
        """Whether the worker processed the events about as fast as they were offered."""
        return kept_up(self.processed_rate, self.offered_rate)


class ChangeFollower:
    """Reads the stage-change topic as it grows and stamps each record's arrival."""

    def __init__(self, settings: Settings, topic: str) -> None:
        self.consumer = AIOKafkaConsumer(
            topic,
            **kafka_client_kwargs(settings),
            group_id=None,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
            fetch_max_wait_ms=10,
        )
        self.arrivals: list[tuple[str, float]] = []  # (trigger event id, monotonic time)
        self.stamped: list[Arrival] = []  # the same, with record timestamp and wall time
        self.read = 0
        self.task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Join and wait for the partition assignment before anything is produced."""
        await self.consumer.start()
        await wait_for(self._assigned, 60, "stage-change follower assignment", interval=0.05)
        self.task = asyncio.create_task(self._follow())

    async def _assigned(self) -> bool:
        await self.consumer.getmany(timeout_ms=50)
        return bool(self.consumer.assignment())

    async def _follow(self) -> None:
        while True:
            batch = await self.consumer.getmany(timeout_ms=100)
            now, wall = time.monotonic(), time.time()
            for messages in batch.values():
                for message in messages:
                    trigger = str(orjson.loads(message.value).get("trigger_event_id"))
                    self.arrivals.append((trigger, now))
                    self.stamped.append(Arrival(trigger, message.timestamp, wall))
                self.read += len(messages)

    async def stop(self) -> None:
        """Stop following."""
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task
        await self.consumer.stop()


def latencies_ms(sent: dict[str, float], arrivals: list[tuple[str, float]]) -> list[float]:
    """Milliseconds from each triggering event's send to its stage change's arrival."""
    return [(at - sent[trigger]) * 1000 for trigger, at in arrivals if trigger in sent]


async def warm_up(settings: Settings, names: TopicNames, seed: int, rate: float) -> None:
    """Offer the load to other leads for WARM_UP_S and wait until the worker is done.

    The ready line comes when the worker's faust group is assigned; its input loop joins
    its own group after that, and its output producer connects with the first stage
    change. The timed load starts once all of that has happened and the warm-up traffic
    is processed, so it measures the steady state (a fresh worker's start is what the
    recovery figure measures).
    """
    began = time.monotonic()
    count = int(rate * WARM_UP_S)
    events = simulate_events(count, seed, "warm-up")
    await produce(settings, events, rate, linger_ms=LOAD_LINGER_MS)
    groups = (settings.worker_group, settings.ingest_group)
    async with OffsetWatch(settings) as watch:
        ends = await watch.ends(names.inputs.values())

        async def processed() -> bool:
            committed = await watch.committed(*groups)
            return await watch.processed(committed, ends, names.events_by_lead, ticks_too=False)

        waited = await wait_for(processed, WARM_UP_TIMEOUT_S, "the worker taking in the warm-up")
    say(f"latency: the worker processed {count:,} warm-up events after {waited - began:.1f}s")


async def run_latency(
    settings: Settings, rate: float, duration_s: float, seed: int, data_dir: Path
) -> LatencyResult:
    """Offer `rate` events/s of simulated traffic for `duration_s` to one fresh worker."""
    settings = settings.model_copy(update={"data_dir": data_dir})
    names = TopicNames.of(settings)
    groups = (settings.worker_group, settings.ingest_group)
    await ensure_topics(settings)
    count = int(rate * duration_s)
    events: list[SimEvent] = simulate_events(count, seed, "lat")
    with frozen_heap(collector_off=True):
        return await _offer(settings, names, events, rate, seed, groups)


async def _offer(
    settings: Settings,
    names: TopicNames,
    events: list[SimEvent],
    rate: float,
    seed: int,
    groups: tuple[str, str],
) -> LatencyResult:
    """Launch a worker, warm it up, offer `events` at `rate` and collect the latencies."""
    launched = await launch(settings)
    follower = ChangeFollower(settings, names.stage_changes)
    sent: dict[str, float] = {}
    sent_at: dict[str, float] = {}  # the same, in wall time (for the hops)
    probe = WakeProbe()

    def stamp(event: SimEvent) -> None:
        event_id = str(event.value["event_id"])
        sent[event_id], sent_at[event_id] = time.monotonic(), time.time()

    try:
        await follower.start()
        await warm_up(settings, names, seed, rate)
        seconds = len(events) / rate
        say(f"latency: offering {len(events):,} events at {rate:,.0f}/s for {seconds:g}s")
        await probe.start()
        began = time.monotonic()
        await produce(settings, events, rate, on_send=stamp, linger_ms=LOAD_LINGER_MS)
        send_s = time.monotonic() - began
        say(f"latency: sent in {send_s:.1f}s; waiting for the worker to catch up")
        async with OffsetWatch(settings) as watch:
            input_ends = await watch.ends(names.inputs.values())

            async def processed() -> bool:
                committed = await watch.committed(*groups)
                return await watch.processed(
                    committed, input_ends, names.events_by_lead, ticks_too=False
                )

            try:
                done_at = await wait_for(processed, len(events) / MIN_RATE + 60, "latency drain")
            except TimeoutError as exc:
                raise TimeoutError(f"{exc}; {output_tail(launched.worker)}") from None
            change_ends = sum((await watch.ends([names.stage_changes])).values())

        async def all_read() -> bool:
            return follower.read >= change_ends

        await wait_for(all_read, 60, "reading the stage changes", interval=0.05)
        rekeyed = await rekeyed_times(settings, names.events_by_lead)
    finally:
        wake_late_ms = await probe.stop()
        await follower.stop()
        await launched.worker.stop()
    return LatencyResult(
        offered_rate=rate,
        events=len(events),
        send_s=send_s,
        done_s=done_at - began,
        samples_ms=latencies_ms(sent, follower.arrivals),
        wake_late_ms=wake_late_ms,
        hops_ms=hops_ms(sent_at, rekeyed, follower.stamped),
    )
