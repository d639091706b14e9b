"""Which destinations a record goes to, and the webhook body it becomes (pure)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final, Literal

import orjson
from pydantic import BaseModel, ConfigDict, ValidationError

from schemas.outputs import AlertDeadLetter
from streams.alerts.config import Destination

Source = Literal["stage_changes", "sla"]
GiveUpReason = Literal["rejected", "expired", "gone", "disabled"]
EventType = Literal["lead.stage_changed", "lead.sla_warning", "lead.sla_breached"]
STAGE_CHANGED: Final = "lead.stage_changed"
SLA_TYPES: Final[dict[str, EventType]] = {
    "warning": "lead.sla_warning",
    "breached": "lead.sla_breached",
}


class _Fields(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class _Ruleset(_Fields):
    name: str


class _StageChange(_Fields):
    """The fields of a stage change that routing needs (the record may hold more)."""

    change_id: str
    lead_id: str
    to_stage: str
    occurred_at: str
    ruleset: _Ruleset


class _SlaEvent(_Fields):
    """The fields of an SLA event that routing needs."""

    sla_event_id: str
    lead_id: str
    kind: Literal["warning", "breached"]
    stage: str
    emitted_at: str


@dataclass(frozen=True)
class AlertEvent:
    """A record of leads.stage-changes or leads.sla, as alerts see it."""

    type: EventType
    webhook_id: str  # change_id or sla_event_id: the same on every retry and re-delivery
    lead_id: str
    stage: str  # to_stage of a change; the stage whose SLA it is for an SLA event
    ruleset: str | None  # the deciding ruleset's name (stage changes only)
    timestamp: str  # RFC 3339: when it happened (occurred_at) or was noticed (SLA emitted_at)
    raw: bytes = field(repr=False)  # the record's value as on its topic
    data: dict[str, Any] = field(repr=False, compare=False)  # the same, parsed

    @property
    def is_sla(self) -> bool:
        return self.type != STAGE_CHANGED


class Unreadable(ValueError):
    """A record that is not a stage change or SLA event (it is skipped and logged)."""


def read_event(source: Source, raw: bytes | None) -> AlertEvent:
    """The event of a record's value (Unreadable when it lacks what alerts need)."""
    try:
        data = orjson.loads(raw or b"")
    except orjson.JSONDecodeError as exc:
        raise Unreadable(f"not JSON ({exc})") from None
    if not isinstance(data, dict):
        raise Unreadable("not a JSON object")
    try:
        if source == "stage_changes":
            change = _StageChange.model_validate(data)
            return AlertEvent(
                type=STAGE_CHANGED,
                webhook_id=change.change_id,
                lead_id=change.lead_id,
                stage=change.to_stage,
                ruleset=change.ruleset.name,
                timestamp=change.occurred_at,
                raw=bytes(raw or b""),
                data=data,
            )
        sla = _SlaEvent.model_validate(data)
    except ValidationError as exc:
        first = exc.errors(include_url=False, include_input=False)[0]
        where = ".".join(str(p) for p in first["loc"])
        raise Unreadable(f"{where}: {first['msg']}") from None
    return AlertEvent(
        type=SLA_TYPES[sla.kind],
        webhook_id=sla.sla_event_id,
        lead_id=sla.lead_id,
        stage=sla.stage,
        ruleset=None,
        timestamp=sla.emitted_at,
        raw=bytes(raw or b""),
        data=data,
    )


def matches(destination: Destination, event: AlertEvent) -> bool:
    """Whether the destination's filters let the event through: SLA events only with
    `sla = true`; stage changes by `stages` (to_stage) and `rulesets` (by name)."""
    if event.is_sla:
        return destination.sla
    if destination.stages is not None and event.stage not in destination.stages:
        return False
    return destination.rulesets is None or event.ruleset in destination.rulesets


def webhook_body(event: AlertEvent) -> bytes:
    """The body of a webhook delivery: type, timestamp and the record unchanged as `data`.
    It depends on the record only, so every retry and re-delivery sends the same bytes."""
    return orjson.dumps(
        {"type": event.type, "timestamp": event.timestamp, "data": orjson.Fragment(event.raw)}
    )


def dead_letter_value(
    *,
    destination: str,
    event: AlertEvent,
    source_topic: str,
    reason: GiveUpReason,
    attempts: int,
    last_status: int | None,
    last_error: str | None,
    first_attempt_at: datetime | None,
    gave_up_at: datetime,
) -> bytes:
    """The leads.alerts-dead-letter value for an event a destination did not get."""
    letter = AlertDeadLetter(
        destination=destination,
        webhook_id=event.webhook_id,
        reason=reason,
        attempts=attempts,
        last_status=last_status,
        last_error=last_error,
        first_attempt_at=first_attempt_at,
        gave_up_at=gave_up_at,
        source_topic=source_topic,
        event=event.data,
    )
    return letter.model_dump_json().encode()
