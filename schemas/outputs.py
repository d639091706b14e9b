"""Output models: stage changes, current stages, SLA events, shadow changes, input and alert
dead letters."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

Stage = Literal["lead", "sql", "sqo", "disqualified"]


class _Out(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class Reason(_Out):
    """One criterion that was met, in words a sales rep understands."""

    rule: str
    description: str
    points: float | None = None


class RulesetRef(_Out):
    """Which ruleset decided."""

    name: str
    version: str


class StageChange(_Out):
    """A lead moved from one stage to another (value of leads.stage-changes)."""

    change_id: str = Field(description='"{lead_id}:{sequence}"; a re-emission repeats it')
    lead_id: str
    sequence: int = Field(ge=1)
    from_stage: Stage
    to_stage: Stage
    occurred_at: AwareDatetime
    emitted_at: AwareDatetime
    trigger_event_id: str | None
    reasons: list[Reason]
    evidence: list[str]
    disqualification_reason: str | None
    scores: dict[str, float]
    ruleset: RulesetRef


class ShadowStageChange(StageChange):
    """A shadow ruleset's stage change (value of leads.shadow-stage-changes)."""

    change_id: str = Field(description='"{lead_id}:{sequence}:shadow"; a re-emission repeats it')


class LeadStage(_Out):
    """A lead's current stage (value of leads.lead-stages, compacted, keyed by lead_id)."""

    lead_id: str
    stage: Stage
    since: AwareDatetime = Field(description="occurred_at of the change that set the stage")
    change_id: str = Field(description="the change that set the stage")
    sequence: int = Field(ge=1)
    scores: dict[str, float]
    ruleset: RulesetRef
    disqualification_reason: str | None


class BusinessHours(_Out):
    """The working week an SLA counts in, as the ruleset gives it."""

    days: list[Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]] = Field(min_length=1)
    start: str = Field(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$", description="HH:MM, local")
    end: str = Field(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$", description="HH:MM, local")
    timezone: str = Field(description="IANA time zone name, e.g. Europe/Amsterdam")


class SlaPolicyRef(_Out):
    """The SLA policy of the stage, as the ruleset gives it."""

    within: str = Field(description='how long sales has to work the lead, e.g. "4h"')
    business_hours: BusinessHours | None = Field(description="null: every hour counts")


class SlaEvent(_Out):
    """An SLA warning or breach of a lead in a stage (value of leads.sla, keyed by lead_id)."""

    sla_event_id: str = Field(
        description='"{lead_id}:{sequence}:{kind}" (sequence: the stage change that started'
        " the clock); a re-emission repeats it"
    )
    lead_id: str
    kind: Literal["warning", "breached"]
    stage: Literal["sql", "sqo"]
    stage_since: AwareDatetime = Field(description="occurred_at of the change into the stage")
    due_at: AwareDatetime = Field(description="when the lead must have been worked")
    policy: SlaPolicyRef
    emitted_at: AwareDatetime


class DeadLetterError(_Out):
    """Why a message was rejected."""

    code: str
    message: str


class DeadLetter(_Out):
    """A rejected input message with the reason (value of leads.dead-letter)."""

    source_topic: str
    partition: int
    offset: int
    key: str | None
    value: str
    value_encoding: Literal["utf-8", "base64"] = "utf-8"
    value_truncated: bool = Field(
        default=False, description="only the first 64 KiB of the value are kept"
    )
    value_size: int | None = Field(default=None, description="size of the original value")
    key_encoding: Literal["utf-8", "base64"] = "utf-8"
    error: DeadLetterError
    received_at: AwareDatetime


class AlertDeadLetter(_Out):
    """An alert that `leadq alerts` gave up on (value of leads.alerts-dead-letter, keyed by
    lead_id)."""

    destination: str = Field(description="the destination's name in the alerts configuration")
    webhook_id: str = Field(description="change_id or sla_event_id: the delivery's webhook-id")
    reason: Literal["rejected", "expired", "gone", "disabled"] = Field(
        description="rejected: an answer that is not retried (a 4xx other than 408, 410 and"
        " 429, or a redirect); expired: still failing when max_age had passed; gone: the"
        " destination answered 410 and is disabled; disabled: not sent, the destination had"
        " been disabled by an earlier 410"
    )
    attempts: int = Field(ge=0, description="attempts made (0 when the destination was disabled)")
    last_status: int | None = Field(description="HTTP status of the last attempt; null: no answer")
    last_error: str | None = Field(
        description="what went wrong in the last attempt (status and the start of the answer,"
        " or the network error); null when no attempt was made"
    )
    first_attempt_at: AwareDatetime | None = Field(description="null when no attempt was made")
    gave_up_at: AwareDatetime
    source_topic: str = Field(description="the topic the event was read from")
    event: dict[str, Any] = Field(description="the record as it is on its topic")
