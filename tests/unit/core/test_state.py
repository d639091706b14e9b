"""The lead state: recording an event keeps every other field; the stored form round-trips."""

from __future__ import annotations

from dataclasses import fields, replace
from datetime import UTC, datetime

from streams.core.events import LeadEvent
from streams.core.state import Hit, LeadState, SlaClock


def full_state() -> LeadState:
    """A state with every field away from its default."""
    return LeadState(
        key="L1",
        stage="disqualified",
        sequence=3,
        seen={"e1": 1_000},
        hits={"demo": (Hit("e0", 500, 30.0),)},
        profile={"seniority": "vp"},
        profile_at_ms={"seniority": 400},
        epoch_start_ms=100,
        disqualified_at_ms=900,
        disqualification_reason="no_budget",
        clock_ms=1_000,
        stage_at_ms=900,
        linked_to="L0",
        held=(LeadEvent("v1", "page_view", datetime(2026, 1, 5, tzinfo=UTC), anonymous_id="a"),),
        sla=SlaClock(2, "sql", 800, 800, ("warning",)),
    )


def test_the_full_state_sets_every_field() -> None:
    # Guards the next test: a field added to LeadState must be set here too.
    default = LeadState(key="")
    state = full_state()
    assert all(getattr(state, f.name) != getattr(default, f.name) for f in fields(LeadState))


def test_recording_an_event_changes_only_ids_hits_profile_and_clock() -> None:
    state = full_state()
    seen = {"e1": 1_000, "e2": 2_000}
    hits: dict[str, tuple[Hit, ...]] = {"demo": (Hit("e0", 500, 30.0), Hit("e2", 2_000, 30.0))}
    profile = {"seniority": "vp", "email_domain": "acme.example"}
    profile_at = {"seniority": 400, "email_domain": 2_000}
    recorded = state.recorded(
        seen=seen, hits=hits, profile=profile, profile_at_ms=profile_at, clock_ms=2_000
    )
    assert recorded == replace(
        state, seen=seen, hits=hits, profile=profile, profile_at_ms=profile_at, clock_ms=2_000
    )


def test_the_stored_form_round_trips() -> None:
    state = full_state()
    assert LeadState.from_dict(state.to_dict()) == state
