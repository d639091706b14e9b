"""One very active lead's stream: one lead, valid messages of every kind, in event-time order."""

from __future__ import annotations

import itertools
from collections import Counter
from datetime import datetime

import pytest

from streams.tools.expected import valid_events
from streams.tools.simulate.active import ACTIVE_LEAD_ID, active_lead

EVENTS = 5_000


def test_one_lead_with_distinct_ids_and_increasing_event_times() -> None:
    stream = active_lead(EVENTS)
    assert len(stream) == EVENTS
    events, rejected = valid_events((e.kind, e.value) for e in stream)
    assert rejected == 0
    assert {e.lead_id for e in events} == {ACTIVE_LEAD_ID}
    assert len({e.event_id for e in events}) == EVENTS
    assert all(a.at_ms < b.at_ms for a, b in itertools.pairwise(events))


def test_every_kind_of_input_and_mostly_website_traffic() -> None:
    kinds = Counter(e.kind for e in active_lead(EVENTS))
    assert set(kinds) == {"website", "email", "call", "profile"}
    assert kinds["website"] > EVENTS / 2
    types = {e.value.get("type") for e in active_lead(EVENTS) if e.kind != "profile"}
    assert {"page_view", "email_opened", "call_completed", "meeting_held"} <= types


def test_hundreds_of_events_a_day() -> None:
    stream = active_lead(EVENTS)
    first, last = (
        datetime.fromisoformat(e.value.get("occurred_at") or e.value["updated_at"])
        for e in (stream[0], stream[-1])
    )
    days = (last - first).total_seconds() / 86_400
    assert 500 < EVENTS / days < 2_000


def test_deterministic_and_a_prefix_of_a_longer_stream() -> None:
    assert active_lead(300, seed=7) == active_lead(300, seed=7)
    assert active_lead(300, seed=7) != active_lead(300, seed=8)
    assert active_lead(1_000, seed=7)[:300] == active_lead(300, seed=7)
    with pytest.raises(ValueError, match="count"):
        active_lead(-1)
