"""The bound on one lead's state: a very active lead's encoded state stays under 64 KB."""

from __future__ import annotations

import functools

import orjson
import pytest

from streams.core.events import LeadEvent
from streams.core.qualify import MAX_HITS_PER_SIGNAL, Qualifier
from streams.core.ruleset import PRESETS, load_ruleset
from streams.core.state import LeadState
from streams.tools.expected import valid_events
from streams.tools.simulate.active import ACTIVE_LEAD_ID, active_lead

BOUND_BYTES = 64 * 1024
CHECK_EVERY = 1_000
EVENTS = 100_000  # one lead's events, about four months of them (bench.active_lead's stream)
# The time-dependent presets judge an event at every hit within the allowed lateness, so
# they cost more per event: fewer events for them (their state levels off far sooner).
SHORTER = 2_000
EVENTS_OF = {preset: EVENTS if preset == "default" else SHORTER for preset in PRESETS}


@functools.cache
def lead_events(count: int) -> tuple[LeadEvent, ...]:
    """The very active lead's events, validated and converted as the workers do."""
    events, rejected = valid_events((e.kind, e.value) for e in active_lead(count))
    assert rejected == 0
    return tuple(events)


def encoded(state: LeadState) -> bytes:
    """The state as the worker stores it (streams.worker.codec.encode_state)."""
    return orjson.dumps(state.to_dict())


def parts(state: LeadState) -> str:
    """Where the bytes are: the encoded size of each growing field."""
    data = state.to_dict()
    sizes = {
        name: len(orjson.dumps(data.get(name, []))) for name in ("seen", "hits", "held", "profile")
    }
    counts = f"{len(state.seen)} ids seen, {sum(map(len, state.hits.values()))} hits"
    return ", ".join(f"{name} {size:,} bytes" for name, size in sizes.items()) + f" ({counts})"


@pytest.mark.parametrize("preset", PRESETS)
def test_a_very_active_leads_state_stays_under_64_kb(preset: str) -> None:
    qualifier = Qualifier(load_ruleset(preset))
    state = LeadState(key=ACTIVE_LEAD_ID)
    events = lead_events(EVENTS_OF[preset])
    for done, event in enumerate(events, 1):
        decision = qualifier.process(state, event)
        assert decision.rejection is None
        state = decision.state
        if done % CHECK_EVERY == 0 or done == len(events):
            size = len(encoded(state))
            assert size < BOUND_BYTES, f"{size:,} bytes after {done:,} events: {parts(state)}"
    assert state.stage == "sqo"
    # The bound was reached: the most frequent signal keeps exactly its last hits.
    assert max(map(len, state.hits.values())) == MAX_HITS_PER_SIGNAL
