"""Where simulated traffic goes: history and outcome files, or the input topics at a pace."""

from __future__ import annotations

import asyncio
import csv
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import orjson

from streams.settings import Settings
from streams.tools.simulate.event import SimEvent
from streams.tools.simulate.traffic import SimulatedOutcomes
from streams.worker.kafka_clients import kafka_client_kwargs


def write_history(events: Iterable[SimEvent], path: Path) -> int:
    """Write events as a recorded history: one contract JSON value per line (no topic field:
    the event type names it). Returns the number of lines written."""
    count = 0
    with path.open("wb") as file:
        for event in events:
            file.write(orjson.dumps(event.value) + b"\n")
            count += 1
    return count


def write_outcomes(outcomes: SimulatedOutcomes, path: Path) -> None:
    """Write each lead's outcome as CSV: `lead_id,outcome` with a header, in lead order."""
    with path.open("w", encoding="utf-8", newline="") as file:
        writer = csv.writer(file, lineterminator="\n")
        writer.writerow(("lead_id", "outcome"))
        writer.writerows(outcomes.by_lead.items())


async def produce(
    settings: Settings,
    events: Iterable[SimEvent],
    rate: float | None,
    on_progress: Callable[[int], None] | None = None,
    *,
    on_send: Callable[[SimEvent], None] | None = None,
    linger_ms: int = 5,
) -> int:
    """Send events to their topics, at `rate` events/s (None: as fast as possible).

    Returns the number of events the broker acknowledged. `on_progress` is called with the
    count acknowledged so far about twice a second, and once at the end; `on_send` with each
    event just before it is handed to the producer (e.g. to measure end-to-end latency).
    The producer waits up to `linger_ms` for more events to send with one.
    """
    if rate is not None and rate <= 0:
        raise ValueError("rate must be > 0 events/s (or None for as fast as possible)")
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(
        **kafka_client_kwargs(settings),
        acks="all",
        enable_idempotence=True,
        linger_ms=linger_ms,
    )
    sent = 0
    pending: list[asyncio.Future[Any]] = []

    async def confirm() -> None:
        nonlocal sent
        if pending:
            await asyncio.gather(*pending)
            sent += len(pending)
            pending.clear()

    try:
        await producer.start()  # inside: a producer that could not connect is closed too
        began = last_report = time.monotonic()
        for i, event in enumerate(events):
            if rate is not None:
                # Absolute schedule: event i is due at began + i/rate; never sleep when behind.
                delay = began + i / rate - time.monotonic()
                if delay > 0.001:
                    await asyncio.sleep(delay)
            if on_send is not None:
                on_send(event)
            pending.append(
                await producer.send(
                    settings.topic("leads." + event.kind),
                    value=orjson.dumps(event.value),
                    key=event.key.encode("utf-8") if event.key is not None else None,
                )
            )
            now = time.monotonic()
            if len(pending) >= 10_000 or (on_progress is not None and now - last_report >= 0.5):
                await confirm()
                if on_progress is not None:
                    on_progress(sent)
                last_report = now
        await producer.flush()
        await confirm()
        if on_progress is not None:
            on_progress(sent)
    finally:
        await producer.stop()
    return sent
