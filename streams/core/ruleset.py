"""The ruleset model: signals, scores, stage criteria and disqualifiers, loaded from TOML."""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    StringConstraints,
    Tag,
    ValidationError,
    model_validator,
)
from pydantic_core import PydanticCustomError

from schemas.events import EVENT_TYPES, event_property_names
from streams.core.rule_base import Duration
from streams.core.rule_base import Rule as _Rule
from streams.core.rule_base import parse_duration as parse_duration
from streams.core.ruleset_errors import CONDITION_KEYS, ID_PATTERN, describe, did_you_mean
from streams.core.sla import Sla

PRESETS: tuple[str, ...] = ("default", "startup", "consultancy", "agency")
SCORES: tuple[str, ...] = ("engagement", "fit")
PROFILE_FIELD_NAMES: frozenset[str] = event_property_names("profile") or frozenset()

Scalar = str | int | float | bool

# A name that rules refer to (a signal id, a disqualification reason).
Identifier = Annotated[str, StringConstraints(pattern=ID_PATTERN)]


class Comparison(_Rule):
    """Numeric comparison of a property, score or profile field."""

    gte: float | None = None
    gt: float | None = None
    lte: float | None = None
    lt: float | None = None

    def holds(self, value: float) -> bool:
        """Whether a number satisfies every bound given."""
        return (
            (self.gte is None or value >= self.gte)
            and (self.gt is None or value > self.gt)
            and (self.lte is None or value <= self.lte)
            and (self.lt is None or value < self.lt)
        )

    @model_validator(mode="after")
    def _some_bound(self) -> Self:
        if self.gte is None and self.gt is None and self.lte is None and self.lt is None:
            raise ValueError("give at least one of gte, gt, lte, lt")
        return self


PropertyTest = Scalar | list[Scalar] | Comparison


class Match(_Rule):
    """One event pattern: an event type and tests on its properties (all must hold)."""

    model_config = ConfigDict(extra="allow", frozen=True, strict=True)

    type: str

    @property
    def tests(self) -> dict[str, PropertyTest]:
        """The property tests, by property name."""
        return dict(self.__pydantic_extra__ or {})

    @model_validator(mode="before")
    @classmethod
    def _parse_tests(cls, data: Any) -> Any:
        if isinstance(data, dict):
            return {k: (_comparison(k, v) if isinstance(v, dict) else v) for k, v in data.items()}
        return data

    @model_validator(mode="after")
    def _known_type_and_properties(self) -> Self:
        known = event_property_names(self.type)
        if known is None:
            raise ValueError(
                f"unknown event type {self.type!r}{did_you_mean(self.type, EVENT_TYPES)};"
                f" the event types are {', '.join(EVENT_TYPES)}"
            )
        for name, test in self.tests.items():
            if name not in known:
                raise ValueError(
                    f"event type {self.type!r} has no property {name!r}"
                    + (
                        did_you_mean(name, known)
                        or f" (it has: {', '.join(sorted(known)) or 'none'})"
                    )
                )
            if not isinstance(test, str | int | float | bool | list | Comparison):
                raise ValueError(f"property {name!r}: use a value, a list, or {{gte = ...}}")
        return self


def _comparison(name: str, bounds: dict[str, Any]) -> Comparison:
    try:
        return Comparison.model_validate(bounds)
    except ValidationError:
        raise ValueError(
            f"property {name!r}: a comparison is a table of numbers such as {{ gte = 10 }}"
            " (keys gte, gt, lte, lt)"
        ) from None


class Signal(_Rule):
    """A named kind of evidence: events matching any of its patterns, worth some points."""

    description: str
    points: float = 0
    max_points: float | None = None
    match: list[Match] = Field(min_length=1)


class SignalCondition(_Rule):
    """At least min_count hits of a signal (and min_points of its points), optionally all
    within one window of event time of length `within`."""

    signal: str
    min_count: int = Field(default=1, ge=1)
    min_points: float | None = None
    within: Duration | None = None
    description: str | None = None


class ScoreCondition(Comparison):
    score: Literal["engagement", "fit"]
    description: str | None = None


class ProfileCondition(_Rule):
    profile: str
    equals: Scalar | None = None
    in_: list[Scalar] | None = Field(default=None, alias="in")
    in_list: str | None = None
    gte: float | None = None
    lte: float | None = None
    exists: bool | None = None
    description: str | None = None

    @model_validator(mode="after")
    def _known_field(self) -> Self:
        if self.profile not in PROFILE_FIELD_NAMES:
            raise ValueError(
                f"unknown profile field {self.profile!r}"
                + (
                    did_you_mean(self.profile, PROFILE_FIELD_NAMES)
                    or f" (known: {', '.join(sorted(PROFILE_FIELD_NAMES))})"
                )
            )
        return self


class AllCondition(_Rule):
    all: list[Condition] = Field(min_length=1)
    description: str | None = None


class AnyCondition(_Rule):
    any: list[Condition] = Field(min_length=1)
    description: str | None = None


class NotCondition(_Rule):
    not_: Condition = Field(alias="not")
    description: str | None = None


def _condition_tag(value: Any) -> str | None:
    if isinstance(value, dict):
        for key in CONDITION_KEYS:
            if key in value:
                return key
        return None
    for key, cls in _CONDITION_CLASSES.items():
        if isinstance(value, cls):
            return key
    return None


Condition = Annotated[
    Annotated[SignalCondition, Tag("signal")]
    | Annotated[ScoreCondition, Tag("score")]
    | Annotated[ProfileCondition, Tag("profile")]
    | Annotated[AllCondition, Tag("all")]
    | Annotated[AnyCondition, Tag("any")]
    | Annotated[NotCondition, Tag("not")],
    Discriminator(
        _condition_tag,
        custom_error_type="condition",
        custom_error_message=(
            "a condition needs one of the keys signal, score, profile, all, any, not"
        ),
    ),
]
_CONDITION_CLASSES: dict[str, type[_Rule]] = {
    "signal": SignalCondition,
    "score": ScoreCondition,
    "profile": ProfileCondition,
    "all": AllCondition,
    "any": AnyCondition,
    "not": NotCondition,
}
AllCondition.model_rebuild()
AnyCondition.model_rebuild()
NotCondition.model_rebuild()


class FitRule(_Rule):
    """Points for the fit score when a profile condition holds."""

    rule: str
    description: str
    points: float
    when: Annotated[
        Annotated[ProfileCondition, Tag("profile")]
        | Annotated[AllCondition, Tag("all")]
        | Annotated[AnyCondition, Tag("any")],
        Discriminator(
            _condition_tag,
            custom_error_type="condition",
            custom_error_message="a fit rule's condition needs one of the keys profile, all, any",
        ),
    ]


class StageRule(_Rule):
    """The criteria a lead must meet to enter a stage."""

    description: str
    criteria: Condition


class Disqualifier(_Rule):
    """A condition that disqualifies a lead, with the reason reported."""

    reason: Identifier
    description: str
    when: Condition


class ScoreCap(_Rule):
    """An upper bound on a score while a condition holds (e.g. free-mail addresses)."""

    score: Literal["engagement", "fit"]
    max: float
    description: str
    when: Annotated[
        Annotated[ProfileCondition, Tag("profile")]
        | Annotated[AllCondition, Tag("all")]
        | Annotated[AnyCondition, Tag("any")]
        | Annotated[NotCondition, Tag("not")]
        | Annotated[SignalCondition, Tag("signal")],
        Discriminator(
            _condition_tag,
            custom_error_type="condition",
            custom_error_message=(
                "a score cap's condition needs one of the keys profile, all, any, not, signal"
            ),
        ),
    ]


class Engagement(_Rule):
    """How the engagement score decays: each hit's points halve every half_life."""

    half_life: Duration | None = Field(default=None, gt=0)


class Demotion(_Rule):
    """Demote `sql -> lead` once the decaying engagement score falls below a threshold."""

    below: float = Field(gt=0)
    description: str = "Engagement decayed: no recent activity"


class Ruleset(_Rule):
    """A complete, validated qualification ruleset."""

    name: str = Field(min_length=1)
    version: str = Field(min_length=1)
    description: str = ""
    requalify: bool = False
    cooldown: Duration = 0
    allowed_lateness: Duration = 24 * 3_600_000
    late_events: Literal["accept", "dead_letter"] = "accept"
    lists: dict[str, list[str]] = {}
    signals: dict[Identifier, Signal]
    fit: list[FitRule] = []
    engagement: Engagement = Engagement()
    cap: list[ScoreCap] = []
    stages: dict[Literal["sql", "sqo"], StageRule]
    disqualify: list[Disqualifier] = []
    demotion: Demotion | None = None
    sla: Sla | None = None

    @property
    def time_dependent(self) -> bool:
        """Whether conditions depend on when they are judged (windows or decay)."""
        return self.engagement.half_life is not None or any(
            isinstance(c, SignalCondition) and c.within is not None for c in self.conditions()
        )

    def conditions(self) -> list[Any]:
        """Every condition of the ruleset, nested ones included."""
        tops: list[Any] = [s.criteria for s in self.stages.values()]
        tops += [d.when for d in self.disqualify]
        tops += [f.when for f in self.fit] + [c.when for c in self.cap]
        return [c for top in tops for c in walk(top)]

    @model_validator(mode="after")
    def _references_resolve(self) -> Self:
        if "sql" not in self.stages or "sqo" not in self.stages:
            raise ValueError("define both [stages.sql] and [stages.sqo]")
        if self.demotion is not None and self.engagement.half_life is None:
            raise ValueError(
                "[demotion] needs a decaying engagement score: set engagement.half_life"
            )
        if self.cooldown and not self.requalify:
            raise ValueError("cooldown only applies with requalify = true")
        for cap in self.cap:
            for cond in walk(cap.when):
                if isinstance(cond, ScoreCondition):
                    raise ValueError("a score cap cannot depend on a score")
        for at, where, top in self._tops():
            for cond in walk(top):
                if isinstance(cond, SignalCondition) and cond.signal not in self.signals:
                    raise _unknown(at, where, "signal", cond.signal, self.signals)
                if (
                    isinstance(cond, ProfileCondition)
                    and cond.in_list is not None
                    and cond.in_list not in self.lists
                ):
                    raise _unknown(at, where, "in_list", cond.in_list, self.lists)
        return self

    def _tops(self) -> list[tuple[tuple[Any, ...], str, Any]]:
        """(location, name in words, condition) of every top-level condition."""
        tops: list[tuple[tuple[Any, ...], str, Any]] = [
            (("stages", name, "criteria"), f"{name} criteria", s.criteria)
            for name, s in self.stages.items()
        ]
        tops += [
            (("disqualify", i, "when"), f"disqualifier '{d.reason}'", d.when)
            for i, d in enumerate(self.disqualify)
        ]
        tops += [
            (("fit", i, "when"), f"fit rule '{f.rule}'", f.when) for i, f in enumerate(self.fit)
        ]
        tops += [(("cap", i, "when"), f"{c.score} cap", c.when) for i, c in enumerate(self.cap)]
        return tops


def _unknown(
    at: tuple[Any, ...], where: str, key: str, name: str, defined: Mapping[str, Any]
) -> PydanticCustomError:
    """A condition's reference to a signal or list the ruleset does not define."""
    kind = "signal" if key == "signal" else "list"
    hint = did_you_mean(name, defined) or f" (defined: {', '.join(sorted(defined)) or 'none'})"
    return PydanticCustomError(
        "unknown_reference",
        "{where}: unknown {kind} '{name}'{hint}",
        {"where": where, "kind": kind, "name": name, "hint": hint, "at": at, "key": key},
    )


def walk(cond: Any) -> list[Any]:
    """A condition and every condition nested in it."""
    if isinstance(cond, AllCondition):
        return [cond, *(x for c in cond.all for x in walk(c))]
    if isinstance(cond, AnyCondition):
        return [cond, *(x for c in cond.any for x in walk(c))]
    if isinstance(cond, NotCondition):
        return [cond, *walk(cond.not_)]
    return [cond]


class RulesetError(ValueError):
    """A ruleset that cannot be used, with messages that point at lines."""

    def __init__(self, source: str, problems: list[str]) -> None:
        super().__init__(f"{source}: " + "; ".join(problems))
        self.source = source
        self.problems = problems


def parse_ruleset(text: str, source: str = "<rules>") -> Ruleset:
    """Parse and validate TOML text; raise RulesetError naming the lines at fault."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise RulesetError(source, [f"not valid TOML: {exc}"]) from None
    try:
        return Ruleset.model_validate(data)
    except ValidationError as exc:
        problems = [describe(err, text, Ruleset, _LOC_TAGS, data) for err in exc.errors()]
        raise RulesetError(source, list(dict.fromkeys(problems))) from None


def load_ruleset(name_or_path: str) -> Ruleset:
    """A shipped preset by name, or a TOML file by path."""
    if name_or_path in PRESETS:
        return _preset(name_or_path)
    path = Path(name_or_path)
    if path.is_dir():
        raise RulesetError(name_or_path, ["is a directory, not a ruleset file"])
    if not path.is_file():
        raise RulesetError(
            name_or_path,
            [f"no such preset or file; presets are {', '.join(PRESETS)}"],
        )
    return parse_ruleset(path.read_text(encoding="utf-8"), str(path))


@cache
def _preset(name: str) -> Ruleset:
    text = resources.files("streams.core").joinpath("presets", f"{name}.toml").read_text("utf-8")
    return parse_ruleset(text, f"preset {name}")


def preset_texts() -> Mapping[str, str]:
    """The TOML text of every shipped preset."""
    base = resources.files("streams.core").joinpath("presets")
    return {name: base.joinpath(f"{name}.toml").read_text("utf-8") for name in PRESETS}


# Union tags in validation locations: the condition keys.
_LOC_TAGS: dict[str, type[BaseModel]] = dict(_CONDITION_CLASSES)
