"""The worker's Prometheus metrics, under the contract's names, in a registry of its own."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Final

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

# From a fresh event's produce to its stage change acknowledged: milliseconds on a quiet
# worker, seconds behind a backlog.
LATENCY_BUCKETS_S: Final = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)

# Each source gives the lag of the partitions it reads: (topic, partition) -> messages.
LagSource = Callable[[], Awaitable[Mapping[tuple[str, int], int]]]


class WorkerMetrics:
    """Counters the worker's stages add to, and the consumer lag read when scraped."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.events = Counter(
            "leadq_events", "Input events read, by input topic", ["topic"], registry=self.registry
        )
        self.dead_letters = Counter(
            "leadq_dead_letters",
            "Messages sent to the dead-letter topic, by reason code",
            ["reason"],
            registry=self.registry,
        )
        self.stage_changes = Counter(
            "leadq_stage_changes",
            "Stage changes emitted (acknowledged by Kafka), by the stage reached",
            ["to_stage"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "leadq_event_to_stage_change_seconds",
            "From the input event's Kafka timestamp to its stage change acknowledged",
            buckets=LATENCY_BUCKETS_S,
            registry=self.registry,
        )
        self.lag = Gauge(
            "leadq_consumer_lag",
            "Messages not yet processed and committed, per partition read by this worker",
            ["topic", "partition"],
            registry=self.registry,
        )
        self.lag_sources: list[LagSource] = []

    async def render(self) -> bytes:
        """The Prometheus text format, with the consumer lag read now."""
        self.lag.clear()
        for source in self.lag_sources:
            for (topic, partition), lag in (await source()).items():
                self.lag.labels(topic, str(partition)).set(lag)
        return generate_latest(self.registry)
