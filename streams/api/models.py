"""The api's response bodies (pydantic models, so that its OpenAPI document describes them)."""

from __future__ import annotations

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from schemas.outputs import RulesetRef, Stage, StageChange


class _Body(BaseModel):
    model_config = ConfigDict(frozen=True)


class Criterion(_Body):
    """One criterion of a stage, in the ruleset's words."""

    rule: str
    description: str


class NextStage(_Body):
    """The stage a lead can reach next and which of its criteria hold now."""

    stage: Stage
    met: list[Criterion] = Field(description="criteria of the next stage that hold")
    missing: list[Criterion] = Field(description="criteria of the next stage still missing")


class LeadLookup(_Body):
    """Everything the api knows about one lead."""

    lead_id: str
    stage: Stage
    since: AwareDatetime | None = Field(
        description="occurred_at of the change that set the stage (null: never changed)"
    )
    sequence: int = Field(ge=0, description="the sequence of that change (0: none yet)")
    scores: dict[str, float] = Field(description="the scores now, by the api's ruleset")
    ruleset: RulesetRef = Field(description="the ruleset that set the stage")
    disqualification_reason: str | None = None
    changes: list[StageChange] = Field(description="the last 20 stage changes, newest first")
    next: NextStage | None = Field(
        description="null when no stage follows (sqo; disqualified without requalify)"
    )


class StageCounts(_Body):
    """Leads by their current stage."""

    lead: int = Field(ge=0)
    sql: int = Field(ge=0)
    sqo: int = Field(ge=0)
    disqualified: int = Field(ge=0)


class Reached(_Body):
    """Leads that ever reached sql and sqo (from the stage changes read)."""

    sql: int = Field(ge=0)
    sqo: int = Field(ge=0)


class Funnel(_Body):
    """The funnel: how many leads are at each stage now."""

    stages: StageCounts
    reached: Reached
    as_of: AwareDatetime


class RecentChanges(_Body):
    """The latest stage changes of all leads, newest first."""

    changes: list[StageChange]


class Status(_Body):
    """A health or readiness answer."""

    status: str
    reason: str | None = None


class Error(_Body):
    """An error answer (never echoes credentials)."""

    error: str
