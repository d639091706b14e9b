"""Domain events: what happened to a lead (in) and the stage changes it caused (out)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

Stage = Literal["lead", "sql", "sqo", "disqualified"]
STAGES: tuple[Stage, ...] = ("lead", "sql", "sqo", "disqualified")


@dataclass(frozen=True, slots=True)
class LeadEvent:
    """One validated input event, normalised across topics (profile records included)."""

    event_id: str
    type: str
    occurred_at: datetime
    lead_id: str | None = None
    anonymous_id: str | None = None
    properties: Mapping[str, Any] = field(default_factory=dict)

    @property
    def at_ms(self) -> int:
        """Event time in epoch milliseconds."""
        return int(self.occurred_at.timestamp() * 1000)


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
