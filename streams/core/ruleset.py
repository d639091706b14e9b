"""The ruleset model: signals, scores, stage criteria and disqualifiers, loaded from TOML."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal, Self

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationError,
    model_validator,
)

from schemas.events import event_property_names

PRESETS: tuple[str, ...] = ("default", "startup", "consultancy", "agency")
SCORES: tuple[str, ...] = ("engagement", "fit")
PROFILE_FIELD_NAMES: frozenset[str] = event_property_names("profile") or frozenset()

Scalar = str | int | float | bool

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)\s*$")
_UNIT_MS = {"ms": 1, "s": 1_000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}


def parse_duration(value: Any) -> Any:
    """'7d', '24h', '30m', '90s', '2w' or '500ms' -> milliseconds (other values pass through)."""
    if isinstance(value, str):
        found = _DURATION.match(value)
        if found is None:
            raise ValueError(f"{value!r} is not a duration; write e.g. '7d', '24h', '30m' or '90s'")
        return round(float(found.group(1)) * _UNIT_MS[found.group(2)])
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError("a duration is a string such as '7d', '24h', '30m' or '90s'")
    return value


# A duration in milliseconds, written in TOML as "7d", "24h", "30m", "90s" ...
Duration = Annotated[int, BeforeValidator(parse_duration), Field(ge=0)]


class _Rule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


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

    model_config = ConfigDict(extra="allow", frozen=True)

    type: str

    @property
    def tests(self) -> dict[str, PropertyTest]:
        """The property tests, by property name."""
        return dict(self.__pydantic_extra__ or {})

    @model_validator(mode="before")
    @classmethod
    def _parse_tests(cls, data: Any) -> Any:
        if isinstance(data, dict):
            return {
                k: (Comparison.model_validate(v) if isinstance(v, dict) else v)
                for k, v in data.items()
            }
        return data

    @model_validator(mode="after")
    def _known_type_and_properties(self) -> Self:
        known = event_property_names(self.type)
        if known is None:
            raise ValueError(f"unknown event type {self.type!r}")
        for name, test in self.tests.items():
            if name not in known:
                raise ValueError(
                    f"event type {self.type!r} has no property {name!r}"
                    f" (it has: {', '.join(sorted(known)) or 'none'})"
                )
            if not isinstance(test, str | int | float | bool | list | Comparison):
                raise ValueError(f"property {name!r}: use a value, a list, or {{gte = ...}}")
        return self


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
                f" (known: {', '.join(sorted(PROFILE_FIELD_NAMES))})"
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


_CONDITION_KEYS = ("signal", "score", "profile", "all", "any", "not")


def _condition_tag(value: Any) -> str | None:
    if isinstance(value, dict):
        for key in _CONDITION_KEYS:
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
    when: ProfileCondition | AllCondition | AnyCondition


class StageRule(_Rule):
    """The criteria a lead must meet to enter a stage."""

    description: str
    criteria: Condition


class Disqualifier(_Rule):
    """A condition that disqualifies a lead, with the reason reported."""

    reason: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    description: str
    when: Condition


class ScoreCap(_Rule):
    """An upper bound on a score while a condition holds (e.g. free-mail addresses)."""

    score: Literal["engagement", "fit"]
    max: float
    description: str
    when: ProfileCondition | AllCondition | AnyCondition | NotCondition | SignalCondition


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
    signals: dict[str, Signal]
    fit: list[FitRule] = []
    engagement: Engagement = Engagement()
    cap: list[ScoreCap] = []
    stages: dict[Literal["sql", "sqo"], StageRule]
    disqualify: list[Disqualifier] = []
    demotion: Demotion | None = None

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
        for cond in self.conditions():
            if isinstance(cond, SignalCondition) and cond.signal not in self.signals:
                raise ValueError(
                    f"condition refers to unknown signal {cond.signal!r}"
                    f" (defined: {', '.join(sorted(self.signals))})"
                )
            if (
                isinstance(cond, ProfileCondition)
                and cond.in_list is not None
                and cond.in_list not in self.lists
            ):
                raise ValueError(
                    f"condition refers to unknown list {cond.in_list!r}"
                    f" (defined: {', '.join(sorted(self.lists)) or 'none'})"
                )
        return self


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
        problems = []
        for err in exc.errors(include_url=False, include_input=False):
            loc = tuple(err["loc"])
            line = locate(text, loc) if loc else _mentioned_line(text, err["msg"])
            where = ".".join(str(p) for p in _readable(loc)) or "(top level)"
            prefix = f"line {line}: " if line else ""
            problems.append(f"{prefix}{where}: {err['msg']}")
        raise RulesetError(source, problems) from None


def _mentioned_line(text: str, message: str) -> int | None:
    """For a whole-ruleset problem: the line of the first name ('x') or table ([x]) that
    the message mentions (where an unknown signal or list is referred to, say)."""
    lines = text.splitlines()
    for name in re.findall(r"'([^']+)'", message):
        pattern = re.compile(rf'=\s*"{re.escape(name)}"')
        for n, line in enumerate(lines, start=1):
            if pattern.search(line):
                return n
    for table in re.findall(r"\[([a-z_.]+)\]", message):
        for n, line in enumerate(lines, start=1):
            if line.strip() == f"[{table}]":
                return n
    return None


def _readable(loc: tuple[Any, ...]) -> list[Any]:
    """A validation location without pydantic's union tags ('signal', 'all', ...)."""
    out: list[Any] = []
    previous_was_tag = False
    for i, part in enumerate(loc):
        before = loc[i - 1] if i > 0 else None
        # A tag follows the key that holds a condition, or a list index, never another tag.
        is_tag = (
            part in _CONDITION_KEYS
            and not previous_was_tag
            and (before in ("criteria", "when", "not") or isinstance(before, int))
        )
        previous_was_tag = is_tag
        if not is_tag:
            out.append(part)
    return out


def locate(text: str, loc: tuple[Any, ...]) -> int | None:
    """Best-effort line number (1-based) of the TOML key at a validation location."""
    lines = text.splitlines()
    path = _readable(loc)
    best: int | None = None
    start, consumed = 0, 0
    # The deepest table header ([a.b] or the n-th [[a]]) that the path starts with.
    for length in range(len(path), 0, -1):
        names = [str(p) for p in path[:length] if not isinstance(p, int)]
        if not names or isinstance(path[length - 1], int):
            continue
        index = path[length] if length < len(path) and isinstance(path[length], int) else None
        header = ".".join(names)
        hits = [
            n for n, line in enumerate(lines) if line.strip() in (f"[{header}]", f"[[{header}]]")
        ]
        if hits:
            n = hits[index] if index is not None and index < len(hits) else hits[0]
            best, start = n + 1, n
            consumed = length + (1 if index is not None else 0)
            break
    # Then the remaining keys, as `key =` lines (or inline `key = ...`) below that header.
    for part in path[consumed:]:
        if isinstance(part, int):
            continue
        pattern = re.compile(rf'(^|[{{,\s])"?{re.escape(str(part))}"?\s*=')
        for n in range(start, len(lines)):
            if n > start and lines[n].lstrip().startswith("["):
                return best
            if pattern.search(lines[n]):
                best, start = n + 1, n
                break
        else:
            return best
    return best


def load_ruleset(name_or_path: str) -> Ruleset:
    """A shipped preset by name, or a TOML file by path."""
    if name_or_path in PRESETS:
        return _preset(name_or_path)
    path = Path(name_or_path)
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
