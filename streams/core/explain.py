"""What a lead still needs for its next stage: the criteria that hold and those missing."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from streams.core.evaluate import View, condition_name, duration_text, unique_reasons
from streams.core.events import Reason, Stage
from streams.core.ruleset import (
    AllCondition,
    AnyCondition,
    Comparison,
    Condition,
    NotCondition,
    ProfileCondition,
    Ruleset,
    ScoreCondition,
    SignalCondition,
)
from streams.core.state import LeadState


@dataclass(frozen=True, slots=True)
class NextStep:
    """The stage a lead can reach next, the criteria of it that hold (`met`) and those that
    do not yet (`missing`), in the ruleset's own words."""

    stage: Literal["sql", "sqo"]
    met: tuple[Reason, ...]
    missing: tuple[Reason, ...]


def next_stage(rules: Ruleset, stage: Stage) -> Literal["sql", "sqo"] | None:
    """The stage the qualifier moves a lead to from `stage` when its criteria hold (None:
    there is none; disqualification is not a next step, it can come at any time)."""
    if stage == "lead":
        return "sql"
    if stage == "sql":
        return "sqo"
    if stage == "disqualified" and rules.requalify:
        return "sql"
    return None


def explain_next(rules: Ruleset, state: LeadState) -> NextStep | None:
    """The lead's next stage and which of its criteria hold now, as the qualifier judges
    them (at the lead's latest event time when the ruleset has windows or decay).

    Each part of the criteria that must hold (each item of a top-level `all`) is one
    criterion. One that holds is listed in `met` with the reasons a stage change would give;
    one that does not is listed in `missing`, worded from its description, and what already
    holds inside it (one event of two needed, say) is listed in `met` too. A disqualified
    lead that may requalify also misses each disqualifier that still holds.
    """
    target = next_stage(rules, state.stage)
    if target is None:
        return None
    view = View(rules, state, state.clock_ms if rules.time_dependent else None)
    met: list[Reason] = []
    missing: list[Reason] = []
    for criterion in _parts(rules.stages[target].criteria):
        holds = view.holds(criterion)
        if holds is not None:
            met.extend(holds.reasons)
            continue
        missing.append(Reason(condition_name(criterion), describe(criterion, view)))
        met.extend(_progress(criterion, view))
    if state.stage == "disqualified":
        for rule in rules.disqualify:
            if view.holds(rule.when) is not None:
                missing.append(
                    Reason(f"disqualify.{rule.reason}", f"No longer: {rule.description}")
                )
    return NextStep(target, unique_reasons(met), unique_reasons(missing))


def _parts(cond: Condition) -> list[Condition]:
    """The criteria that must all hold: the items of (nested) `all`s, else the condition."""
    if isinstance(cond, AllCondition) and cond.description is None:
        return [part for item in cond.all for part in _parts(item)]
    return [cond]


def _progress(cond: Condition, view: View) -> list[Reason]:
    """Reasons of the simple conditions that hold inside a compound one that does not
    (never inside a `not`, where holding counts against the lead)."""
    if isinstance(cond, AllCondition | AnyCondition):
        items = cond.all if isinstance(cond, AllCondition) else cond.any
        return [reason for item in items for reason in _progress(item, view)]
    if isinstance(cond, NotCondition):
        return []
    holds = view.holds(cond)
    return list(holds.reasons) if holds is not None else []


def describe(cond: Condition | ProfileCondition, view: View) -> str:
    """A condition that does not hold, in words: its description, or one built from it."""
    if cond.description is not None:
        return cond.description
    if isinstance(cond, SignalCondition):
        text = view.rules.signals[cond.signal].description
        extra = []
        if cond.min_count > 1:
            window = f" within {duration_text(cond.within)}" if cond.within else ""
            extra.append(f"{cond.min_count} times{window}")
        if cond.min_points is not None:
            extra.append(f"at least {cond.min_points:g} points")
        return f"{text} ({', '.join(extra)})" if extra else text
    if isinstance(cond, ScoreCondition):
        value = view.engagement()[0] if cond.score == "engagement" else view.fit()[0]
        return f"{cond.score.capitalize()} score {_bounds(cond)} (now {value:g})"
    if isinstance(cond, ProfileCondition):
        return _profile_text(cond)
    if isinstance(cond, NotCondition):
        return f"Not: {describe(cond.not_, view)}"
    if isinstance(cond, AllCondition):
        return " and ".join(describe(item, view) for item in cond.all)
    return "One of: " + "; ".join(describe(item, view) for item in cond.any)


def _bounds(cond: Comparison) -> str:
    parts = []
    if cond.gte is not None:
        parts.append(f"at least {cond.gte:g}")
    if cond.gt is not None:
        parts.append(f"above {cond.gt:g}")
    if cond.lte is not None:
        parts.append(f"at most {cond.lte:g}")
    if cond.lt is not None:
        parts.append(f"below {cond.lt:g}")
    return " and ".join(parts)


def _profile_text(cond: ProfileCondition) -> str:
    name = cond.profile.replace("_", " ").capitalize()
    parts = []
    if cond.exists is True:
        parts.append("is known")
    if cond.exists is False:
        parts.append("is not known")
    if cond.equals is not None:
        parts.append(f"is {cond.equals}")
    if cond.in_ is not None:
        parts.append("is one of " + ", ".join(str(v) for v in cond.in_))
    if cond.in_list is not None:
        parts.append(f"is in the list {cond.in_list}")
    if cond.gte is not None:
        parts.append(f"is at least {cond.gte:g}")
    if cond.lte is not None:
        parts.append(f"is at most {cond.lte:g}")
    return f"{name} {' and '.join(parts) or 'is known'}"
