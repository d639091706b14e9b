"""The delivery latency's arithmetic: from each stage change's Kafka timestamp to its first
request at the receiver, and what was not delivered."""

from __future__ import annotations

from bench.delivery import DeliveryResult, delivery_ms


def test_delivery_latency_from_the_kafka_timestamp_to_the_first_arrival() -> None:
    written = {"a:1": 1_000_000.0, "b:1": 1_000_500.0, "c:1": 1_001_000.0}
    arrived = {"a:1": 1000.025, "b:1": 1000.6}
    assert [round(v) for v in delivery_ms(written, arrived)] == [25, 100]
    result = DeliveryResult(2000.0, 40_000, changes=3, samples_ms=delivery_ms(written, arrived))
    assert result.undelivered == 1
    assert "over 2 of 3 stage changes" in result.line()
