"""Batched re-keying: records per partition, in order, decodable, old records still read."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
from aiokafka.partitioner import DefaultPartitioner

from streams.core.events import LeadEvent
from streams.worker.batching import REKEY_RECORD_BYTES, REKEY_RECORD_EVENTS, RekeyBuffer
from streams.worker.codec import (
    decode_rekeyed,
    encode_lead_event,
    rekeyed_event_ids,
    rekeyed_item,
)
from streams.worker.topics import partition_of

PARTITIONS = 4


def event(lead: str, n: int, **properties: object) -> LeadEvent:
    return LeadEvent(
        event_id=f"{lead}-{n}",
        type="page_view",
        occurred_at=datetime(2026, 3, 1, 10, n % 60, tzinfo=UTC),
        lead_id=lead,
        properties={"url": "https://example.com/pricing", **properties},
    )


def test_partition_of_is_kafkas_default_partitioner() -> None:
    partitions = list(range(PARTITIONS))
    for n in range(500):
        key = f"lead-{n}".encode()
        assert partition_of(key, PARTITIONS) == DefaultPartitioner()(key, partitions, partitions)


def test_events_are_grouped_by_partition_in_their_order() -> None:
    buffer = RekeyBuffer(PARTITIONS)
    sent = [event(f"L{n % 7}", n) for n in range(40)]
    for e in sent:
        assert buffer.add(e.lead_id or "", rekeyed_item(e.lead_id or "", e)) == []
    records = buffer.drain()
    assert buffer.drain() == []
    seen: list[LeadEvent] = []
    for record in records:
        decoded = decode_rekeyed(record["value"], record["key"])
        assert {partition_of(k.encode(), PARTITIONS) for k, _ in decoded} == {record["partition"]}
        assert [k for k, _ in decoded] == [e.lead_id for _, e in decoded]
        seen.extend(e for _, e in decoded)
        assert rekeyed_event_ids(record["value"]) == [e.event_id for _, e in decoded]
    assert sorted(seen, key=sent.index) == sent
    for lead in {e.lead_id for e in sent}:  # each lead's events keep their order
        assert [e for e in seen if e.lead_id == lead] == [e for e in sent if e.lead_id == lead]


def test_a_partition_group_is_sent_before_it_grows_too_big() -> None:
    buffer = RekeyBuffer(PARTITIONS)
    big = "x" * (REKEY_RECORD_BYTES // 4)  # three fit in one record, not four
    early: list[dict[str, Any]] = []
    for n in range(7):
        early.extend(buffer.add("L1", rekeyed_item("L1", event("L1", n, note=big))))
    records = [*early, *buffer.drain()]
    assert len(records) == 3
    assert all(len(r["value"]) <= REKEY_RECORD_BYTES for r in records)
    ids = [i for r in records for i in rekeyed_event_ids(r["value"])]
    assert ids == [f"L1-{n}" for n in range(7)]


def test_a_record_holds_at_most_a_fixed_number_of_events() -> None:
    buffer = RekeyBuffer(PARTITIONS)
    early: list[dict[str, Any]] = []
    for n in range(2 * REKEY_RECORD_EVENTS + 1):
        early.extend(buffer.add("L1", rekeyed_item("L1", event("L1", n))))
    records = [*early, *buffer.drain()]
    counts = [len(rekeyed_event_ids(r["value"])) for r in records]
    assert counts == [REKEY_RECORD_EVENTS, REKEY_RECORD_EVENTS, 1]


def test_a_record_of_one_bare_event_is_read_with_the_record_key() -> None:
    old = encode_lead_event(event("L9", 1))  # as leadq wrote events-by-lead before batching
    assert orjson.loads(old)["i"] == "L9-1"
    assert decode_rekeyed(old, b"L9") == [("L9", event("L9", 1))]
    assert rekeyed_event_ids(old) == ["L9-1"]
