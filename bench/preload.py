"""Generate the simulator's traffic and load it into the input topics as fast as possible."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import orjson
from aiokafka import AIOKafkaProducer, TopicPartition

from bench.common import create_topics, end_offsets, say, warm_up_groups
from streams.settings import Settings
from streams.tools.simulate.event import SimEvent
from streams.tools.simulate.traffic import generate
from streams.worker.kafka_clients import kafka_client_kwargs
from streams.worker.topics import TopicNames

EVENTS_PER_LEAD = 11.5  # what the simulator's journeys average (about 576k events for 50k leads)
CONFIRM_EVERY = 20_000


@dataclass(frozen=True)
class Preload:
    """The loaded input: its topics, their end offsets and what went in."""

    settings: Settings
    topics: dict[str, str]  # kind -> full topic name
    ends: dict[TopicPartition, int]
    events: int
    leads: int
    by_kind: dict[str, int]
    seconds: float
    profiled: frozenset[str]  # leads with a profile record (their outcome is order-dependent)

    @property
    def input_topics(self) -> list[str]:
        """The input topic names."""
        return list(self.topics.values())

    @property
    def kind_of(self) -> dict[str, str]:
        """Topic kind by full topic name."""
        return {topic: kind for kind, topic in self.topics.items()}


def leads_for(events: int) -> int:
    """How many simulated leads give about `events` events."""
    return max(1, round(events / EVENTS_PER_LEAD))


def simulate(leads: int, seed: int, lead_prefix: str = "sim") -> list[SimEvent]:
    """The simulator's journeys of `leads` leads, in event-time order."""
    began = time.monotonic()
    events = generate(leads, seed, lead_prefix=lead_prefix)
    say(f"simulated {len(events):,} events of {leads:,} leads in {time.monotonic() - began:.1f}s")
    return events


def simulate_events(count: int, seed: int, lead_prefix: str) -> list[SimEvent]:
    """The first `count` events (in event-time order) of the simulator's traffic, of about
    10 % more leads than `leads_for(count)`, so that there are `count` of them."""
    events = simulate(leads_for(count) * 11 // 10 + 1, seed, lead_prefix)
    if len(events) < count:
        raise ValueError(f"the simulator gave {len(events):,} events, {count:,} wanted")
    return events[:count]


async def send_fast(
    settings: Settings,
    records: Iterable[tuple[str, bytes | None, bytes]],
    count: int,
    what: str,
) -> float:
    """Send (topic, key, value) records with large batches; wait for every ack; return seconds."""
    producer = AIOKafkaProducer(
        **kafka_client_kwargs(settings),
        acks="all",
        enable_idempotence=True,
        linger_ms=20,
        max_batch_size=512 * 1024,
    )
    await producer.start()
    began = last = time.monotonic()
    try:
        pending: list[asyncio.Future[Any]] = []
        for i, (topic, key, value) in enumerate(records, 1):
            pending.append(await producer.send(topic, value, key=key))
            if len(pending) >= CONFIRM_EVERY:
                await asyncio.gather(*pending)
                pending.clear()
                if time.monotonic() - last >= 5:
                    last = time.monotonic()
                    say(f"{what}: {i:,}/{count:,} sent")
        await asyncio.gather(*pending)
    finally:
        await producer.stop()
    seconds = time.monotonic() - began
    say(f"{what}: {count:,} records in {seconds:.1f}s ({count / seconds:,.0f}/s)")
    return seconds


async def preload(settings: Settings, events: list[SimEvent], leads: int) -> Preload:
    """Create the input topics of `settings` and load the events into them, in order."""
    names = TopicNames.of(settings)
    topics: dict[str, str] = {str(kind): topic for kind, topic in names.inputs.items()}
    await create_topics(settings, topics.values())
    await warm_up_groups(settings, topics["website"])
    records = [
        (
            topics[e.kind],
            e.key.encode() if e.key is not None else None,
            orjson.dumps(e.value),
        )
        for e in events
    ]
    seconds = await send_fast(settings, records, len(records), "preload")
    ends = await end_offsets(settings, topics.values())
    loaded = sum(ends.values())
    if loaded != len(events):
        raise RuntimeError(f"input topics hold {loaded} records, expected {len(events)}")
    by_kind: Counter[str] = Counter(e.kind for e in events)
    profiled = frozenset(str(e.value["lead_id"]) for e in events if e.kind == "profile")
    return Preload(settings, topics, ends, len(events), leads, dict(by_kind), seconds, profiled)
