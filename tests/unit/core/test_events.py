"""Events: the decoders' builders make the same events as the dataclasses' constructors."""

from __future__ import annotations

from dataclasses import fields
from datetime import UTC, datetime, timedelta, timezone

import pytest

from streams.core.events import EventOrigin, LeadEvent, event_origin, lead_event, to_ms

AT = datetime(2026, 3, 1, 9, 30, 15, 123_456, tzinfo=timezone(timedelta(hours=2)))


@pytest.mark.parametrize("produced_ms", [None, 1_767_225_600_000])
def test_event_origin_is_the_constructors(produced_ms: int | None) -> None:
    built = event_origin("web", 3, 42, produced_ms)
    assert built == EventOrigin("web", 3, 42, produced_ms)
    assert event_origin("web", 3, 42) == EventOrigin("web", 3, 42)


def test_lead_event_is_the_constructors_with_every_field() -> None:
    origin = EventOrigin("crm", 1, 7, 5)
    args = ("e1", "identify", AT, "L1", "v1", {"email": "a@b.example"}, "v0", origin)
    built = lead_event(*args)
    made = LeadEvent(
        event_id="e1",
        type="identify",
        occurred_at=AT,
        lead_id="L1",
        anonymous_id="v1",
        properties={"email": "a@b.example"},
        merged_from="v0",
        origin=origin,
    )
    assert built == made
    for field in fields(LeadEvent):  # also those left out of comparisons
        assert getattr(built, field.name) == getattr(made, field.name)
    assert built.at_ms == to_ms(AT) == to_ms(AT.astimezone(UTC))


def test_a_built_event_stays_frozen() -> None:
    built = lead_event("e1", "page_view", AT, "L1", None, {}, None, None)
    with pytest.raises(AttributeError):
        built.lead_id = "L2"  # type: ignore[misc]
