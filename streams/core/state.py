"""Per-lead state kept in the table: stage, clock, hits, profile facts, identity links and
the running SLA clock."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

from streams.core.events import EventOrigin, LeadEvent, Stage, from_ms, slot_setters


@dataclass(frozen=True, slots=True)
class Hit:
    """One event that matched a signal: its id, event time (epoch ms) and points."""

    event_id: str
    at_ms: int
    points: float


@dataclass(frozen=True, slots=True)
class SlaClock:
    """A running SLA clock: the stage change that started it (its sequence, the stage it
    entered and its event time), when the worker processed that change (wall clock, for
    the backlog rule) and the SLA events already emitted. Dropped once it stops (worked,
    left the stage) or has breached: nothing more can come of it."""

    sequence: int
    stage: str
    since_ms: int
    seen_ms: int
    emitted: tuple[str, ...] = ()

    def to_list(self) -> list[Any]:
        """A compact JSON-ready form."""
        return [self.sequence, self.stage, self.since_ms, self.seen_ms, list(self.emitted)]

    @classmethod
    def from_list(cls, item: list[Any]) -> SlaClock:
        """Inverse of to_list."""
        sequence, stage, since_ms, seen_ms, emitted = item
        return cls(int(sequence), str(stage), int(since_ms), int(seen_ms), tuple(emitted))


@dataclass(frozen=True, slots=True)
class LeadState:
    """Everything known about one lead (or one anonymous visitor) that the rules need.

    `seen` maps recent event ids to their event time (for deduplication; pruned with the
    hits), `clock_ms` is the latest event time the lead has reached, `stage_at_ms` the event
    time of its last stage change. An anonymous visitor's state keeps the events the rules
    care about (`held`) until an identify links it to a lead (`linked_to`). `sla` is the
    running SLA clock of the stage the lead is in, if that stage has an SLA.
    """

    key: str
    stage: Stage = "lead"
    sequence: int = 0
    seen: dict[str, int] = field(default_factory=dict)
    hits: dict[str, tuple[Hit, ...]] = field(default_factory=dict)
    profile: dict[str, Any] = field(default_factory=dict)
    profile_at_ms: dict[str, int] = field(default_factory=dict)
    epoch_start_ms: int | None = None
    disqualified_at_ms: int | None = None
    disqualification_reason: str | None = None
    clock_ms: int | None = None
    stage_at_ms: int | None = None
    linked_to: str | None = None
    held: tuple[LeadEvent, ...] = ()
    sla: SlaClock | None = None

    def recorded(
        self,
        *,
        seen: dict[str, int],
        hits: dict[str, tuple[Hit, ...]],
        profile: dict[str, Any],
        profile_at_ms: dict[str, int],
        clock_ms: int | None,
    ) -> LeadState:
        """This state with what recording an event changes (ids, hits, profile, clock).

        Built slot by slot: as dataclasses.replace would, at a third of its cost (it is
        done for every event)."""
        new = object.__new__(LeadState)
        (
            s_key,
            s_stage,
            s_sequence,
            s_seen,
            s_hits,
            s_profile,
            s_profile_at,
            s_epoch,
            s_dq_at,
            s_dq_reason,
            s_clock,
            s_stage_at,
            s_linked,
            s_held,
            s_sla,
        ) = _STATE_SLOTS
        s_key(new, self.key)
        s_stage(new, self.stage)
        s_sequence(new, self.sequence)
        s_seen(new, seen)
        s_hits(new, hits)
        s_profile(new, profile)
        s_profile_at(new, profile_at_ms)
        s_epoch(new, self.epoch_start_ms)
        s_dq_at(new, self.disqualified_at_ms)
        s_dq_reason(new, self.disqualification_reason)
        s_clock(new, clock_ms)
        s_stage_at(new, self.stage_at_ms)
        s_linked(new, self.linked_to)
        s_held(new, self.held)
        s_sla(new, self.sla)
        return new

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form for the table and its changelog."""
        out: dict[str, Any] = {
            "key": self.key,
            "stage": self.stage,
            "sequence": self.sequence,
            "seen": [[eid, at] for eid, at in self.seen.items()],
            "hits": {
                sig: [[h.event_id, h.at_ms, h.points] for h in hs] for sig, hs in self.hits.items()
            },
        }
        # The optional fields, in this order, when set.
        if self.epoch_start_ms is not None:
            out["epoch_start_ms"] = self.epoch_start_ms
        if self.clock_ms is not None:
            out["clock_ms"] = self.clock_ms
        if self.stage_at_ms is not None:
            out["stage_at_ms"] = self.stage_at_ms
        if self.linked_to is not None:
            out["linked_to"] = self.linked_to
        if self.profile:
            out["profile"] = self.profile
            out["profile_at_ms"] = self.profile_at_ms
        if self.disqualified_at_ms is not None:
            out["disqualified_at_ms"] = self.disqualified_at_ms
            out["disqualification_reason"] = self.disqualification_reason
        if self.held:
            out["held"] = [_held_item(e) for e in self.held]
        if self.sla is not None:
            out["sla"] = self.sla.to_list()
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LeadState:
        """Inverse of to_dict (also reads states written before event time or SLA clocks
        were kept)."""
        seen_raw = data["seen"]
        seen = {
            (item[0] if isinstance(item, list) else item): (
                int(item[1]) if isinstance(item, list) else 0
            )
            for item in seen_raw
        }
        return cls(
            key=data["key"],
            stage=data["stage"],
            sequence=data["sequence"],
            seen=seen,
            hits={
                sig: tuple(Hit(e, int(t), float(p)) for e, t, p in hs)
                for sig, hs in data["hits"].items()
            },
            profile=dict(data.get("profile", {})),
            profile_at_ms=dict(data.get("profile_at_ms", {})),
            epoch_start_ms=data.get("epoch_start_ms"),
            disqualified_at_ms=data.get("disqualified_at_ms"),
            disqualification_reason=data.get("disqualification_reason"),
            clock_ms=data.get("clock_ms"),
            stage_at_ms=data.get("stage_at_ms"),
            linked_to=data.get("linked_to"),
            held=tuple(_held_event(item) for item in data.get("held", ())),
            sla=SlaClock.from_list(data["sla"]) if "sla" in data else None,
        )


# Every field's slot setter, by name (see LeadState.recorded; a field it misses fails there).
_STATE_SLOTS = slot_setters(
    LeadState,
    (
        "key",
        "stage",
        "sequence",
        "seen",
        "hits",
        "profile",
        "profile_at_ms",
        "epoch_start_ms",
        "disqualified_at_ms",
        "disqualification_reason",
        "clock_ms",
        "stage_at_ms",
        "linked_to",
        "held",
        "sla",
    ),
)
assert len(_STATE_SLOTS) == len(fields(LeadState))


def _held_item(event: LeadEvent) -> list[Any]:
    item = [event.event_id, event.type, event.at_ms, dict(event.properties), event.anonymous_id]
    if event.origin is not None:
        origin = event.origin
        item.append([origin.topic, origin.partition, origin.offset, origin.produced_ms])
    return item


def _held_event(item: list[Any]) -> LeadEvent:
    eid, type_, at, props, anon, *origin = item
    return LeadEvent(
        event_id=eid,
        type=type_,
        occurred_at=from_ms(int(at)),
        anonymous_id=anon,
        properties=props,
        origin=EventOrigin(*origin[0]) if origin else None,
    )
