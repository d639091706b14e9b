"""The events-by-lead encoding carries where each event was read, and old records still decode."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson

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
)

AT = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def test_an_event_keeps_its_origin_through_the_rekey_record() -> None:
    origin = EventOrigin("website", 3, 1_234)
    event = LeadEvent("e1", "page_view", AT, lead_id="L1", properties={"url": "/"}, origin=origin)
    record = join_rekeyed([rekeyed_item("L1", encode_lead_event(event))])
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
