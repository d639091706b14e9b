"""Where a stage change's latency goes: the hops between the send, the re-keyed record, the
stage change's record and its arrival at the reader, from the records' timestamps."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from aiokafka import AIOKafkaConsumer

from streams.settings import Settings
from streams.worker.codec import rekeyed_event_ids
from streams.worker.kafka_clients import kafka_client_kwargs

# The hops, in order: send -> the ingest loop's re-keyed record (its producer's timestamp);
# -> the stage change's record (the worker's producer's timestamp, taken as the rules have
# run); -> the reader's fetch returning it.
HOP_NAMES: Final = ("ingest", "rules", "to reader")
READ_WAIT_MS: Final = 1_000  # an empty fetch this long: the topic is read to its end


@dataclass(frozen=True)
class Arrival:
    """A stage change as the reader got it: its trigger, its record timestamp (ms since the
    epoch, set by the worker's producer) and when the reader had it (s since the epoch)."""

    trigger: str
    record_ms: int
    read_at: float


def hops_ms(
    sent_at: Mapping[str, float], rekeyed_ms: Mapping[str, int], arrivals: Sequence[Arrival]
) -> list[tuple[float, float, float]]:
    """The three hops (ms, in HOP_NAMES order) of each stage change whose trigger was sent
    (`sent_at`, s since the epoch) and re-keyed (`rekeyed_ms`, its record's timestamp)."""
    found = []
    for arrival in arrivals:
        sent, rekeyed = sent_at.get(arrival.trigger), rekeyed_ms.get(arrival.trigger)
        if sent is None or rekeyed is None:
            continue
        found.append(
            (
                rekeyed - sent * 1000,
                float(arrival.record_ms - rekeyed),
                arrival.read_at * 1000 - arrival.record_ms,
            )
        )
    return found


async def rekeyed_times(settings: Settings, topic: str) -> dict[str, int]:
    """Each input event id's re-keyed record timestamp (ms), reading `topic` to its end."""
    consumer = AIOKafkaConsumer(
        topic,
        **kafka_client_kwargs(settings),
        group_id=None,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    times: dict[str, int] = {}
    await consumer.start()
    try:
        while fetched := await consumer.getmany(timeout_ms=READ_WAIT_MS):
            for records in fetched.values():
                for record in records:
                    if record.value is None:
                        continue
                    for event_id in rekeyed_event_ids(record.value, inputs_only=True):
                        times[event_id] = record.timestamp
    finally:
        await consumer.stop()
    return times
