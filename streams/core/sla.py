"""SLA policies (`[sla.sql]`, `[sla.sqo]`) and the SLA clock as pure functions."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, Protocol

from pydantic import Field, ValidationInfo, field_validator

from schemas.events import EVENT_TYPES
from streams.core.business_hours import BusinessHours, due_at, warning_at
from streams.core.rule_base import Duration, Rule, format_duration
from streams.core.ruleset_errors import did_you_mean

SlaKind = Literal["warning", "breached"]
# The due instant of a clock whose deadline lies beyond the calendar (an entry dated at
# its very end): it never comes due.
NEVER = datetime.max.replace(tzinfo=UTC)
SlaStage = Literal["sql", "sqo"]


class SlaPolicy(Rule):
    """How soon a lead in a stage must be worked, and what counts as working it."""

    within: Duration = Field(gt=0)
    warn_before: Duration | None = Field(default=None, gt=0)
    worked_by: list[str] = Field(default=["call_completed", "meeting_held"], min_length=1)
    business_hours: BusinessHours | None = None

    @field_validator("worked_by")
    @classmethod
    def _known_event_types(cls, types: list[str]) -> list[str]:
        for name in types:
            if name not in EVENT_TYPES:
                raise ValueError(
                    f"unknown event type {name!r}{did_you_mean(name, EVENT_TYPES)};"
                    f" the event types are {', '.join(EVENT_TYPES)}"
                )
        return types

    @field_validator("warn_before")
    @classmethod
    def _warning_before_due(cls, warn_before: int | None, info: ValidationInfo) -> int | None:
        within = info.data.get("within")
        if warn_before is not None and isinstance(within, int) and warn_before >= within:
            raise ValueError(
                f"warn_before ({format_duration(warn_before)}) must be shorter than"
                f" within ({format_duration(within)})"
            )
        return warn_before

    @property
    def within_delta(self) -> timedelta:
        """`within` as a timedelta."""
        return timedelta(milliseconds=self.within)

    @property
    def warn_delta(self) -> timedelta | None:
        """`warn_before` as a timedelta (None: no warning)."""
        return None if self.warn_before is None else timedelta(milliseconds=self.warn_before)

    def echo(self) -> dict[str, Any]:
        """The policy as an SLA record's `policy`: `{within, business_hours}`."""
        hours = self.business_hours
        return {
            "within": format_duration(self.within),
            "business_hours": None if hours is None else hours.echo(),
        }


class Sla(Rule):
    """The `[sla]` table: a policy for sql, optionally one for sqo."""

    sql: SlaPolicy
    sqo: SlaPolicy | None = None

    def policy(self, stage: str) -> SlaPolicy | None:
        """The policy for a stage (None: that stage has no SLA)."""
        if stage == "sql":
            return self.sql
        if stage == "sqo":
            return self.sqo
        return None


class Entered(Protocol):
    """What the clock needs of the stage change that entered the stage (a StageChanged)."""

    @property
    def lead_id(self) -> str: ...
    @property
    def sequence(self) -> int: ...
    @property
    def to_stage(self) -> str: ...
    @property
    def occurred_at(self) -> datetime: ...


@dataclass(frozen=True, slots=True)
class SlaEvent:
    """A `leads.sla` record without `emitted_at` (added by the shell that sends it), and
    the instant it came due (`occurred_at`: the warning instant, or `due_at` for a breach;
    not a field of the record, its CloudEvents time)."""

    lead_id: str
    sequence: int
    kind: SlaKind
    stage: str
    stage_since: datetime
    due_at: datetime
    policy: Mapping[str, Any]
    occurred_at: datetime

    @property
    def sla_event_id(self) -> str:
        """Deterministic id `{lead_id}:{sequence}:{kind}`: a re-emission repeats it."""
        return f"{self.lead_id}:{self.sequence}:{self.kind}"


@dataclass(frozen=True, slots=True)
class Deadlines:
    """When an SLA clock warns and comes due (UTC), and when it stopped (if it did)."""

    warning: datetime | None
    due: datetime
    stopped: datetime | None
    backlog: bool


def deadlines(
    policy: SlaPolicy,
    entered: Entered,
    worked_at: datetime | None,
    left_at: datetime | None,
    seen_at: datetime,
) -> Deadlines:
    """The clock of one stage entry.

    `worked_at` is the first `worked_by` event of the lead at or after the entry,
    `left_at` when the lead left the stage, `seen_at` when leadq processed the entry.
    An entry whose SLA came due before it was seen is a backlog: it never warns.
    """
    start = entered.occurred_at
    try:
        due = due_at(start, policy.within_delta, policy.business_hours)
    except OverflowError:  # a start at an end of the calendar: nothing can come due
        return Deadlines(None, NEVER, None, False)
    backlog = due <= seen_at
    warn_before = policy.warn_delta
    warning = (
        None
        if warn_before is None or backlog
        else warning_at(start, policy.within_delta, warn_before, policy.business_hours)
    )
    stops = [t for t in (worked_at, left_at) if t is not None and t >= start]
    return Deadlines(warning, due, min(stops) if stops else None, backlog)


def _live(at: datetime | None, stopped: datetime | None) -> bool:
    """Whether an instant is reached before the clock stopped (stopping at it counts)."""
    return at is not None and (stopped is None or stopped > at)


def sla_events(
    policy: SlaPolicy,
    entered: Entered,
    worked_at: datetime | None,
    left_at: datetime | None,
    now: datetime,
    seen_at: datetime,
) -> list[SlaEvent]:
    """Every SLA event of this stage entry that is due by `now`, in order (warning first).

    The result only grows with `now` and is the same on every call with the same inputs:
    a shell emits the ones whose id it has not emitted yet. A warning is due at its instant
    unless the clock stopped by then; a breach at the due instant likewise. A backlog
    entry (due before `seen_at`) gets a single breach.
    """
    clock = deadlines(policy, entered, worked_at, left_at, seen_at)
    due: list[tuple[SlaKind, datetime | None]] = [
        ("warning", clock.warning),
        ("breached", clock.due),
    ]
    return [
        SlaEvent(
            lead_id=entered.lead_id,
            sequence=entered.sequence,
            kind=kind,
            stage=entered.to_stage,
            stage_since=entered.occurred_at,
            due_at=clock.due,
            policy=policy.echo(),
            occurred_at=at,
        )
        for kind, at in due
        if at is not None and at <= now and _live(at, clock.stopped)
    ]


def next_sla_at(
    policy: SlaPolicy,
    entered: Entered,
    worked_at: datetime | None,
    left_at: datetime | None,
    now: datetime,
    seen_at: datetime,
) -> datetime | None:
    """The next instant after `now` at which `sla_events` gains an event (for a timer),
    or None when nothing more can come due."""
    clock = deadlines(policy, entered, worked_at, left_at, seen_at)
    later = [
        at
        for at in (clock.warning, clock.due)
        if at is not None and now < at < NEVER and _live(at, clock.stopped)
    ]
    return min(later, default=None)
