"""Per-lead state kept in the table: stage, counters, evidence and profile facts."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from streams.core.events import Stage


@dataclass(frozen=True, slots=True)
class Hit:
    """One event that matched a signal: its id, event time (epoch ms) and points."""

    event_id: str
    at_ms: int
    points: float


@dataclass(frozen=True, slots=True)
class LeadState:
    """Everything known about one lead (or one anonymous visitor) that the rules need."""

    key: str
    stage: Stage = "lead"
    sequence: int = 0
    seen: frozenset[str] = frozenset()
    hits: dict[str, tuple[Hit, ...]] = field(default_factory=dict)
    profile: dict[str, Any] = field(default_factory=dict)
    profile_at_ms: dict[str, int] = field(default_factory=dict)
    epoch_start_ms: int | None = None
    disqualified_at_ms: int | None = None
    disqualification_reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form for the table and its changelog."""
        out: dict[str, Any] = {
            "key": self.key,
            "stage": self.stage,
            "sequence": self.sequence,
            "seen": sorted(self.seen),
            "hits": {
                sig: [[h.event_id, h.at_ms, h.points] for h in hs] for sig, hs in self.hits.items()
            },
        }
        if self.profile:
            out["profile"] = self.profile
            out["profile_at_ms"] = self.profile_at_ms
        if self.epoch_start_ms is not None:
            out["epoch_start_ms"] = self.epoch_start_ms
        if self.disqualified_at_ms is not None:
            out["disqualified_at_ms"] = self.disqualified_at_ms
            out["disqualification_reason"] = self.disqualification_reason
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LeadState:
        """Inverse of to_dict."""
        return cls(
            key=data["key"],
            stage=data["stage"],
            sequence=data["sequence"],
            seen=frozenset(data["seen"]),
            hits={
                sig: tuple(Hit(e, int(t), float(p)) for e, t, p in hs)
                for sig, hs in data["hits"].items()
            },
            profile=dict(data.get("profile", {})),
            profile_at_ms=dict(data.get("profile_at_ms", {})),
            epoch_start_ms=data.get("epoch_start_ms"),
            disqualified_at_ms=data.get("disqualified_at_ms"),
            disqualification_reason=data.get("disqualification_reason"),
        )
