"""The events-by-lead encoding carries where each event was read, and old records still decode."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson

from schemas.decode import Decoded, Rejection, decode
from schemas.events import ProfileRecord
from streams.core.events import EventOrigin, LeadEvent
from streams.core.state import LeadState
from streams.worker.codec import (
    decode_lead_event,
    decode_rekeyed,
    decode_state,
    encode_lead_event,
    encode_state,
    join_rekeyed,
    rekeyed_item,
    to_lead_event,
)

AT = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def test_an_event_keeps_its_origin_through_the_rekey_record() -> None:
    origin = EventOrigin("website", 3, 1_234)
    event = LeadEvent("e1", "page_view", AT, lead_id="L1", properties={"url": "/"}, origin=origin)
    record = join_rekeyed([rekeyed_item("L1", event)])
    [(key, decoded)] = decode_rekeyed(record, None)
    assert key == "L1"
    assert decoded == event
    assert decoded.origin == origin


def test_an_event_written_without_an_origin_decodes_without_one() -> None:
    old = orjson.dumps({"i": "e1", "t": "page_view", "o": AT.isoformat(), "p": {}, "l": "L1"})
    assert decode_lead_event(old).origin is None


def test_a_visitor_state_keeps_the_origins_of_its_held_events() -> None:
    held = LeadEvent(
        "v1", "page_view", AT, anonymous_id="v", properties={}, origin=EventOrigin("website", 0, 7)
    )
    state = LeadState(key="anon:v", held=(held,))
    [back] = decode_state(encode_state(state)).held
    assert back.origin == EventOrigin("website", 0, 7)
    assert back == held


def test_a_validated_event_is_the_one_the_rekey_record_gives_back_time_zone_included() -> None:
    for kind, value in [
        ("email", {"event_id": "e", "lead_id": "L", "type": "email_sent", "occurred_at": "x"}),
        ("profile", {"lead_id": "L", "updated_at": "x", "company": "Acme"}),
    ]:
        for timestamp in ["2026-03-02T09:00:00Z", "2026-03-02T09:00:00.5-05:30"]:
            field = "updated_at" if kind == "profile" else "occurred_at"
            decoded = decode(kind, orjson.dumps(value | {field: timestamp}))  # type: ignore[arg-type]
            assert not isinstance(decoded, Rejection)
            event = to_lead_event(decoded)
            back = decode_lead_event(encode_lead_event(event))
            assert repr(back) == repr(event)  # repr names the time zone's class
            [(_, rekeyed)] = decode_rekeyed(join_rekeyed([rekeyed_item("L", event)]), None)
            assert repr(rekeyed) == repr(event)
            assert event.occurred_at.utcoffset() == decoded_at(decoded).utcoffset()


def decoded_at(decoded: Decoded) -> datetime:
    return decoded.updated_at if isinstance(decoded, ProfileRecord) else decoded.occurred_at
