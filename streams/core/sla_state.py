"""SLA clocks in the lead state: started by stage changes, stopped by work or by leaving the
stage, and the SLA events they come to (pure)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from streams.core.events import LeadEvent, StageChanged, from_ms, to_ms
from streams.core.sla import NEVER, Sla, SlaEvent, SlaPolicy, deadlines, sla_events
from streams.core.state import LeadState, SlaClock

_UNDER_A_MS = timedelta(microseconds=999)


@dataclass(frozen=True, slots=True)
class _Entered:
    """The stage change that started a clock, as sla.py's functions read it."""

    lead_id: str
    sequence: int
    to_stage: str
    occurred_at: datetime


def _policy(sla: Sla | None, clock: SlaClock) -> SlaPolicy | None:
    return None if sla is None else sla.policy(clock.stage)


def _due(
    policy: SlaPolicy, lead_id: str, clock: SlaClock, now_ms: int, stopped_ms: int | None = None
) -> list[SlaEvent]:
    """The clock's events due by now_ms (before stopped_ms, if it stopped) not emitted yet.
    An instant outside the calendar (an event dated at its very ends) brings none."""
    try:
        entered = _Entered(lead_id, clock.sequence, clock.stage, from_ms(clock.since_ms))
        stopped = None if stopped_ms is None else from_ms(stopped_ms)
        now, seen = from_ms(now_ms), from_ms(clock.seen_ms)
    except OverflowError:
        return []
    events = sla_events(policy, entered, stopped, None, now, seen)
    return [e for e in events if e.kind not in clock.emitted]


def on_changes(
    sla: Sla | None, state: LeadState, changes: Sequence[StageChanged], seen_ms: int
) -> tuple[LeadState, list[SlaEvent]]:
    """Apply a state's new stage changes, in order, to its SLA clock.

    Each change leaves the stage the running clock is for: what came due before the change
    is emitted and the clock stops. A change entering a stage with an SLA starts a clock
    (`seen_ms`: the wall-clock time the change is made, for the backlog rule). Entering sql
    then sqo in one event stops the sql clock and starts the sqo one.
    """
    if not changes:
        return state, []
    clock = state.sla
    out: list[SlaEvent] = []
    for change in changes:
        at_ms = to_ms(change.occurred_at)
        if clock is not None and (policy := _policy(sla, clock)) is not None:
            out += _due(policy, state.key, clock, at_ms, stopped_ms=at_ms)
        clock = None
        if sla is not None and sla.policy(change.to_stage) is not None:
            clock = SlaClock(change.sequence, change.to_stage, at_ms, seen_ms)
    if clock == state.sla:
        return state, out
    return replace(state, sla=clock), out


def on_event(
    sla: Sla | None, state: LeadState, event: LeadEvent
) -> tuple[LeadState, list[SlaEvent]]:
    """A `worked_by` event of the lead at or after the clock's start stops it; what came
    due before the event is emitted first. Other events change nothing."""
    clock = state.sla
    if clock is None:
        return state, []
    policy = _policy(sla, clock)
    if policy is None:  # the ruleset no longer has an SLA for this stage
        return replace(state, sla=None), []
    if event.type not in policy.worked_by or event.at_ms < clock.since_ms:
        return state, []
    return replace(state, sla=None), _due(policy, state.key, clock, event.at_ms, event.at_ms)


def on_tick(sla: Sla | None, state: LeadState, now_ms: int) -> tuple[LeadState, list[SlaEvent]]:
    """Emit the running clock's events due by now_ms (timer time) that are not emitted yet.
    After the breach nothing more can come: the clock is dropped."""
    clock = state.sla
    if clock is None:
        return state, []
    policy = _policy(sla, clock)
    if policy is None:
        return replace(state, sla=None), []
    events = _due(policy, state.key, clock, now_ms)
    if not events:
        return state, []
    emitted = (*clock.emitted, *(e.kind for e in events))
    after = None if "breached" in emitted else replace(clock, emitted=emitted)
    return replace(state, sla=after), events


def next_sla_ms(sla: Sla | None, state: LeadState) -> int | None:
    """When the running clock next comes to an event not emitted yet (epoch ms), if ever:
    the instant a timer tick must reach. It may be in the past (a backlog entry's breach)."""
    clock = state.sla
    if clock is None or (policy := _policy(sla, clock)) is None:
        return None
    try:
        entered = _Entered(state.key, clock.sequence, clock.stage, from_ms(clock.since_ms))
        seen = from_ms(clock.seen_ms)
    except OverflowError:  # an entry dated outside the calendar never comes due
        return None
    times = deadlines(policy, entered, None, None, seen)
    pending = [
        at
        for kind, at in (("warning", times.warning), ("breached", times.due))
        if at is not None and at < NEVER and kind not in clock.emitted
    ]
    # Rounded up: a tick at that time always finds the event due.
    return min((to_ms(at + _UNDER_A_MS) for at in pending), default=None)
