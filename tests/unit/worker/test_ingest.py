"""The ingest stage's rekey(): dead letters with a reason, and one record per lead partition."""

from __future__ import annotations

import orjson
from aiokafka import ConsumerRecord

from schemas.decode import TopicKind
from streams.core.events import EventOrigin
from streams.tools.scenarios import scenario
from streams.worker.codec import decode_rekeyed, rekeyed_event_ids
from streams.worker.ingest import rekey
from streams.worker.topics import partition_of

TOPIC = "t.leads.website"
KINDS: dict[str, TopicKind] = {TOPIC: "website"}
PARTITIONS = 4


def fetched(*messages: tuple[bytes | None, bytes]) -> list[ConsumerRecord[bytes, bytes]]:
    return [
        ConsumerRecord(TOPIC, 1, offset, 0, 0, key, value, None, 0, len(value), ())
        for offset, (key, value) in enumerate(messages, start=40)
    ]


def test_bad_input_becomes_a_dead_letter_with_its_reason_and_valid_events_are_rekeyed() -> None:
    valid = scenario("software-ebook-sql").for_lead("L-7").steps[1].value
    batch = rekey(fetched((b"raw-key", b"{oops"), (None, orjson.dumps(valid))), KINDS, PARTITIONS)
    [(key, letter)] = batch.dead_letters
    dead = orjson.loads(letter)
    assert key == b"raw-key"
    assert dead["error"]["code"] == "invalid_json"
    assert (dead["source_topic"], dead["partition"], dead["offset"]) == (TOPIC, 1, 40)
    assert dead["value"] == "{oops"
    [record] = batch.records
    [(lead, rekeyed)] = decode_rekeyed(record["value"], record["key"])
    assert lead == "L-7"
    assert rekeyed.event_id == valid["event_id"]
    assert rekeyed.origin == EventOrigin("website", 1, 41, 0)
    assert record["partition"] == partition_of(b"L-7", PARTITIONS)


def test_a_batch_becomes_one_record_per_lead_partition_in_input_order() -> None:
    leads = [f"L-{n}" for n in range(12)]
    values = [
        orjson.dumps(scenario("software-ebook-sql").for_lead(lead).steps[1].value) for lead in leads
    ]
    batch = rekey(fetched(*[(None, value) for value in values]), KINDS, PARTITIONS)
    assert batch.dead_letters == []
    assert len(batch.records) == len({partition_of(lead.encode(), PARTITIONS) for lead in leads})
    got = []
    for record in batch.records:
        keys = [key for key, _ in decode_rekeyed(record["value"], record["key"])]
        assert {partition_of(k.encode(), PARTITIONS) for k in keys} == {record["partition"]}
        got += keys
    assert sorted(got) == sorted(leads)
    for record in batch.records:  # each partition's events keep the input order
        keys = [key for key, _ in decode_rekeyed(record["value"], record["key"])]
        assert keys == [lead for lead in leads if lead in keys]


def test_an_event_dated_beyond_the_tolerated_clock_skew_is_dead_lettered_as_from_future() -> None:
    valid = scenario("software-ebook-sql").for_lead("L-8").steps[1].value
    future = {**valid, "event_id": "typo", "occurred_at": "2099-01-01T00:00:00+00:00"}
    now_ms = 1_790_000_000_000  # 2026-09-21: after the scenario's events, long before 2099
    messages = fetched((b"k", orjson.dumps(future)), (None, orjson.dumps(valid)))
    batch = rekey(messages, KINDS, PARTITIONS, not_after_ms=now_ms + 300_000)
    [(key, letter)] = batch.dead_letters
    dead = orjson.loads(letter)
    assert key == b"k"
    assert dead["error"]["code"] == "from_future"
    assert "LEADQ_MAX_CLOCK_SKEW_S" in dead["error"]["message"]
    assert dead["value"] == orjson.dumps(future).decode()
    [record] = batch.records
    assert rekeyed_event_ids(record["value"]) == [valid["event_id"]]
