"""Compact events-by-lead records: every field comes back; records of the earlier JSON form
(a rolling upgrade reads them) give the same events and ids, and can still be written."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import orjson
import pytest
from aiokafka import ConsumerRecord

from streams.core.events import EventOrigin, LeadEvent
from streams.settings import Settings
from streams.worker.codec import (
    decode_rekeyed,
    encode_lead_event,
    join_rekeyed,
    rekeyed_event_ids,
    rekeyed_item,
)
from streams.worker.ingest import rekey
from streams.worker.rekey_format import ENCODE_ERRORS, MARKER, is_compact
from streams.worker.timers import encode_tick

AT = datetime(2026, 3, 2, 9, 0, 0, 123_456, tzinfo=timezone(timedelta(hours=-5, minutes=-30)))

EVENTS = [
    LeadEvent(
        "e1",
        "page_view",
        AT,
        lead_id="L1",
        properties={"url": "/pricing", "category": "pricing"},
        origin=EventOrigin("website", 3, 1_234, 1_700_000_000_123),
    ),
    LeadEvent(
        "e2",
        "call_completed",
        datetime(2026, 3, 2, 10, tzinfo=UTC),
        lead_id="L1",
        properties={
            "direction": "inbound",
            "duration_s": 61.5,
            "topics": ["pricing", "demo"],
            "rep_id": "rép-7 ✓",
        },
        origin=EventOrigin("call", 0, 0),  # no Kafka timestamp
    ),
    LeadEvent(
        "e3", "content_download", AT, anonymous_id="v-1", properties={"asset": "x.pdf"}
    ),  # no origin
    LeadEvent(
        "e4",
        "identify",
        AT,
        lead_id="L2",
        anonymous_id="v-1",
        properties={},
        merged_from="v-1",
        origin=EventOrigin("website", 1, 9, 5),
    ),
    LeadEvent("e5", "profile", AT, lead_id="L1", properties={"company_size": 2**63 + 1}),
]
KEYS = ["L1", "L1", "anon:v-1", "L2", "L1"]


def compact(pairs: list[tuple[str, LeadEvent]]) -> bytes:
    return join_rekeyed([rekeyed_item(key, event) for key, event in pairs])


def old_batch(pairs: list[tuple[str, LeadEvent]]) -> bytes:
    """A record as leadq wrote them before the compact form: [{"k": key, "e": event}, ...]."""
    return orjson.dumps(
        [{"k": key, "e": orjson.loads(encode_lead_event(event))} for key, event in pairs]
    )


def test_every_field_of_every_event_comes_back_with_its_key_in_order() -> None:
    pairs = list(zip(KEYS, EVENTS, strict=True))
    record = compact(pairs)
    assert is_compact(record)
    assert record.startswith(MARKER)
    back = decode_rekeyed(record, None)
    assert back == pairs
    for (_, event), (_, again) in zip(pairs, back, strict=True):
        assert again.origin == event.origin  # not part of the events' equality
        assert again.at_ms == event.at_ms
        assert repr(again) == repr(event)  # repr names the time zone's class


@pytest.mark.parametrize("count", [0, 1, 15, 16, 100, 300])
def test_records_of_any_size_keep_their_events_in_order(count: int) -> None:
    pairs = [(f"L{n % 3}", EVENTS[n % 4]) for n in range(count)]
    assert decode_rekeyed(compact(pairs), None) == pairs


def test_a_record_of_the_earlier_json_form_gives_the_same_events_and_ids() -> None:
    pairs = list(zip(KEYS[:4], EVENTS[:4], strict=True))
    old, new = old_batch(pairs), compact(pairs)
    assert not is_compact(old)
    assert decode_rekeyed(old, None) == decode_rekeyed(new, None) == pairs
    assert [e.origin for _, e in decode_rekeyed(old, None)] == [e.origin for _, e in pairs]
    assert rekeyed_event_ids(old) == rekeyed_event_ids(new) == ["e1", "e2", "e3", "e4"]
    # inputs only: not the event a visitor handed over to its lead
    assert rekeyed_event_ids(old, True) == rekeyed_event_ids(new, True) == ["e1", "e2", "e3"]


def test_a_bare_json_event_is_read_with_the_record_key_and_a_tick_is_not_compact() -> None:
    bare = encode_lead_event(EVENTS[3])  # a hand-over as leadq wrote them before
    assert decode_rekeyed(bare, b"L2") == [("L2", EVENTS[3])]
    assert rekeyed_event_ids(bare, inputs_only=True) == []
    assert not is_compact(encode_tick(5, ["L1"]))
    assert rekeyed_event_ids(encode_tick(5, ["L1"])) == []


@pytest.mark.parametrize("value", [2**64, -(2**63) - 1, "\ud800"])
def test_an_event_that_cannot_be_carried_raises_what_the_ingest_stage_dead_letters(
    value: object,
) -> None:
    event = LeadEvent("e9", "page_view", AT, lead_id="L1", properties={"url": value})
    with pytest.raises(ENCODE_ERRORS):
        rekeyed_item("L1", event)


def test_an_event_time_keeps_its_offset_and_its_microseconds() -> None:
    for offset in (timedelta(hours=14), timedelta(hours=-12, minutes=-45), timedelta(0)):
        at = datetime(2026, 3, 2, 9, 0, 0, 999_999, tzinfo=timezone(offset))
        event = LeadEvent("e", "page_view", at, lead_id="L", properties={})
        [(_, back)] = decode_rekeyed(compact([("L", event)]), None)
        assert repr(back.occurred_at) == repr(at)
        assert back.occurred_at.isoformat() == at.isoformat()  # as stage changes write it


def test_the_json_form_is_the_record_earlier_releases_wrote_and_read() -> None:
    pairs = list(zip(KEYS[:4], EVENTS[:4], strict=True))
    record = join_rekeyed([rekeyed_item(k, e, "json") for k, e in pairs], "json")
    assert record == old_batch(pairs)
    # as an earlier release reads it: a list of {"k": key, "e": event}
    assert [(item["k"], item["e"]["i"]) for item in orjson.loads(record)] == [
        (k, e.event_id) for k, e in pairs
    ]
    assert decode_rekeyed(record, None) == pairs


def test_the_ingest_stage_writes_the_form_it_is_set_to(monkeypatch: pytest.MonkeyPatch) -> None:
    value = orjson.dumps(
        {
            "event_id": "e1",
            "lead_id": "L1",
            "type": "page_view",
            "occurred_at": "2026-03-02T09:00:00Z",
            "properties": {"url": "/"},
        }
    )
    message = ConsumerRecord("t.web", 0, 7, 0, 0, None, value, None, 0, len(value), ())
    for form in ("compact", "json"):
        monkeypatch.setenv("LEADQ_REKEY_FORMAT", form)
        chosen = Settings().rekey_format
        [record] = rekey([message], {"t.web": "website"}, 4, form=chosen).records
        assert is_compact(record["value"]) == (form == "compact")
        [(key, event)] = decode_rekeyed(record["value"], None)
        assert (key, event.event_id, event.origin) == ("L1", "e1", EventOrigin("website", 0, 7, 0))
