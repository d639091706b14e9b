"""The alert service's Prometheus metrics, under the contract's names, in a registry of its own."""

from __future__ import annotations

from typing import Final

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

# From a stage change written to Kafka to its delivery answered 2xx: well under a second
# normally, minutes or hours when a receiver was down.
DELIVERY_BUCKETS_S: Final = (
    0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 4 * 3600, 24 * 3600
)  # fmt: skip


class AlertMetrics:
    """Delivery outcomes and latency per destination, what is waiting, which are disabled."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.deliveries = Counter(
            "leadq_alert_deliveries",
            "Records finished per destination, by outcome: delivered, rejected (an answer"
            " that is not retried), expired (max_age passed), gone (410: the destination is"
            " disabled), disabled (not sent: the destination was disabled before)",
            ["destination", "outcome"],
            registry=self.registry,
        )
        self.delivery_seconds = Histogram(
            "leadq_alert_delivery_seconds",
            "From the record's Kafka timestamp to the destination's 2xx answer",
            ["destination"],
            buckets=DELIVERY_BUCKETS_S,
            registry=self.registry,
        )
        self.retries = Counter(
            "leadq_alert_retries",
            "Attempts that failed and were retried, per destination",
            ["destination"],
            registry=self.registry,
        )
        self.waiting = Gauge(
            "leadq_alert_waiting",
            "Records queued for a destination (in delivery, retrying or behind the same lead)",
            ["destination"],
            registry=self.registry,
        )
        self.unfinished = Gauge(
            "leadq_alert_unfinished_records",
            "Records read and not yet finished for every destination they matched",
            registry=self.registry,
        )
        self.disabled = Gauge(
            "leadq_alert_destination_disabled",
            "1 once a destination answered 410 Gone (until the service restarts)",
            ["destination"],
            registry=self.registry,
        )

    async def render(self) -> bytes:
        """The Prometheus text format."""
        return generate_latest(self.registry)
