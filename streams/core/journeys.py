"""A recorded history through the core, lead by lead in event time: each lead's journey."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from streams.core.events import LeadEvent, Stage, StageChanged
from streams.core.qualify import Qualifier
from streams.core.state import LeadState


@dataclass(frozen=True, slots=True)
class LeadJourney:
    """Where one lead's history took it: final stage and when it first entered each stage."""

    lead_id: str
    final_stage: Stage
    first_event_ms: int
    reached_ms: Mapping[Stage, int] = field(default_factory=dict)
    events: int = 0
    disqualification_reason: str | None = None


@dataclass(frozen=True, slots=True)
class History:
    """A history's events grouped by lead, with what could not be attributed to one."""

    by_lead: dict[str, list[LeadEvent]]
    end_ms: int = 0
    unattributed_events: int = 0
    conflicting_visitors: tuple[str, ...] = ()


def group_by_lead(events: Iterable[LeadEvent]) -> History:
    """Group events by lead; anonymous website events go to the lead their visitor identified as.

    A visitor id that `identify` events link to two or more leads is reported, and its
    anonymous events count for nobody; so do those of visitors who never identify.
    """
    by_lead: dict[str, list[LeadEvent]] = {}
    anonymous: dict[str, list[LeadEvent]] = {}
    links: dict[str, set[str]] = {}
    end_ms = 0
    for event in events:
        end_ms = max(end_ms, event.at_ms)
        if event.lead_id is not None:
            by_lead.setdefault(event.lead_id, []).append(event)
            if event.anonymous_id is not None and event.type == "identify":
                links.setdefault(event.anonymous_id, set()).add(event.lead_id)
        elif event.anonymous_id is not None:
            anonymous.setdefault(event.anonymous_id, []).append(event)
    unattributed = 0
    for visitor, visits in anonymous.items():
        leads = links.get(visitor, set())
        if len(leads) == 1:
            by_lead[next(iter(leads))].extend(visits)
        else:
            unattributed += len(visits)
    conflicts = tuple(sorted(v for v, leads in links.items() if len(leads) > 1))
    return History(by_lead, end_ms, unattributed, conflicts)


def journey_of(
    qualifier: Qualifier, lead_id: str, events: Sequence[LeadEvent], until_ms: int | None = None
) -> LeadJourney:
    """Apply one lead's events in event-time order (ties by event id) to a fresh state, then
    the time-driven changes (demotion on decay) due by until_ms, the end of the history."""
    ordered = sorted(events, key=lambda e: (e.at_ms, e.event_id))
    state = LeadState(key=lead_id)
    reached: dict[Stage, int] = {}
    for event in ordered:
        state, changes = qualifier.apply(state, event)
        _note(reached, changes)
    if until_ms is not None:
        state, changes = qualifier.advance(state, until_ms)
        _note(reached, changes)
    return LeadJourney(
        lead_id=lead_id,
        final_stage=state.stage,
        first_event_ms=ordered[0].at_ms if ordered else 0,
        reached_ms=reached,
        events=len(ordered),
        disqualification_reason=state.disqualification_reason,
    )


def _note(reached: dict[Stage, int], changes: Sequence[StageChanged]) -> None:
    for change in changes:
        reached.setdefault(change.to_stage, int(change.occurred_at.timestamp() * 1000))


def journeys_of_history(
    qualifier: Qualifier, events: Iterable[LeadEvent]
) -> dict[str, LeadJourney]:
    """Replay a whole history (any order) and return each lead's outcome, by lead id."""
    history = group_by_lead(events)
    return {
        lead_id: journey_of(qualifier, lead_id, history.by_lead[lead_id], history.end_ms)
        for lead_id in sorted(history.by_lead)
    }
