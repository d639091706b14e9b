"""One simulated message for an input topic: its topic kind, key and contract JSON value."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

Kind = Literal["website", "email", "call", "profile"]


@dataclass(frozen=True, slots=True)
class SimEvent:
    """One message for an input topic: topic kind, key (None = unkeyed) and JSON value."""

    kind: Kind
    key: str | None
    value: dict[str, Any]
