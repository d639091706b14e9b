"""Domain events: what happened to a lead (in) and the stage changes it caused (out)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)

Stage = Literal["lead", "sql", "sqo", "disqualified"]
STAGES: tuple[Stage, ...] = ("lead", "sql", "sqo", "disqualified")


@dataclass(frozen=True, slots=True)
class EventOrigin:
    """Where an input event was read: its input topic (by kind), partition and offset."""

    topic: str
    partition: int
    offset: int
    produced_ms: int | None = None  # the input message's Kafka timestamp


@dataclass(frozen=True, slots=True)
class LeadEvent:
    """One validated input event, normalised across topics (profile records included)."""

    event_id: str
    type: str
    occurred_at: datetime
    lead_id: str | None = None
    anonymous_id: str | None = None
    properties: Mapping[str, Any] = field(default_factory=dict)
    # Set on an anonymous visitor's event that the visitor's key forwards to the lead it
    # was identified as: old history, so never too late.
    merged_from: str | None = None
    # Where the event was read (for a dead letter that names the original message); not
    # part of what the event means, so left out of comparisons.
    origin: EventOrigin | None = field(default=None, compare=False)
    # Event time in epoch milliseconds (exact), computed once.
    at_ms: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "at_ms", to_ms(self.occurred_at))


def slot_setters(cls: type, names: tuple[str, ...]) -> tuple[Callable[[object, object], None], ...]:
    """The setters of a slotted class's fields: a frozen dataclass's __init__ sets each field
    through object.__setattr__, at about twice the cost of setting its slot directly."""
    return tuple(cls.__dict__[name].__set__ for name in names)


_ORIGIN_SLOTS = slot_setters(EventOrigin, ("topic", "partition", "offset", "produced_ms"))
_EVENT_SLOTS = slot_setters(
    LeadEvent,
    (
        "event_id",
        "type",
        "occurred_at",
        "lead_id",
        "anonymous_id",
        "properties",
        "merged_from",
        "origin",
        "at_ms",
    ),
)


def event_origin(
    topic: str, partition: int, offset: int, produced_ms: int | None = None
) -> EventOrigin:
    """EventOrigin(topic, partition, offset, produced_ms), built at half the cost (the
    decoders make one for every event)."""
    origin = object.__new__(EventOrigin)
    set_topic, set_partition, set_offset, set_produced = _ORIGIN_SLOTS
    set_topic(origin, topic)
    set_partition(origin, partition)
    set_offset(origin, offset)
    set_produced(origin, produced_ms)
    return origin


def lead_event(
    event_id: str,
    type_: str,
    occurred_at: datetime,
    lead_id: str | None,
    anonymous_id: str | None,
    properties: Mapping[str, Any],
    merged_from: str | None,
    origin: EventOrigin | None,
) -> LeadEvent:
    """LeadEvent(...) with every field given, built at half the cost (the decoders make one
    for every event)."""
    event = object.__new__(LeadEvent)
    s_id, s_type, s_at, s_lead, s_anon, s_props, s_merged, s_origin, s_ms = _EVENT_SLOTS
    s_id(event, event_id)
    s_type(event, type_)
    s_at(event, occurred_at)
    s_lead(event, lead_id)
    s_anon(event, anonymous_id)
    s_props(event, properties)
    s_merged(event, merged_from)
    s_origin(event, origin)
    s_ms(event, to_ms(occurred_at))
    return event


def from_ms(at_ms: int) -> datetime:
    """The UTC datetime of an event time in epoch milliseconds (exact)."""
    return _EPOCH + at_ms * _MS


def to_ms(at: datetime) -> int:
    """Epoch milliseconds of a timezone-aware datetime (rounded down)."""
    since = at - _EPOCH  # whole days and seconds, then 0 <= microseconds < 1_000_000
    return (since.days * 86_400 + since.seconds) * 1000 + since.microseconds // 1000


@dataclass(frozen=True, slots=True)
class Reason:
    """A criterion that was met, worded for a sales rep."""

    rule: str
    description: str
    points: float | None = None


@dataclass(frozen=True, slots=True)
class StageChanged:
    """A lead moved to another stage; emitted_at is added by the shell that sends it."""

    lead_id: str
    sequence: int
    from_stage: Stage
    to_stage: Stage
    occurred_at: datetime
    trigger_event_id: str | None
    reasons: tuple[Reason, ...]
    evidence: tuple[str, ...]
    disqualification_reason: str | None
    scores: Mapping[str, float]
    ruleset_name: str
    ruleset_version: str

    @property
    def change_id(self) -> str:
        """Deterministic id: the same change always has the same id."""
        return f"{self.lead_id}:{self.sequence}"
