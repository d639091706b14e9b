"""Conditions and scores over a lead's state at one moment of event time: why a rule holds."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, TypeGuard

from streams.core.events import Reason
from streams.core.ruleset import (
    AllCondition,
    AnyCondition,
    Comparison,
    Condition,
    Match,
    NotCondition,
    ProfileCondition,
    PropertyTest,
    Ruleset,
    ScoreCondition,
    SignalCondition,
)
from streams.core.state import Hit, LeadState

# A signal's match as the qualifier keeps it: its property tests, by property name.
PropertyTests = tuple[tuple[str, PropertyTest], ...]


@dataclass(frozen=True, slots=True)
class Met:
    """Why a condition holds: the reasons and the events they rest on."""

    reasons: tuple[Reason, ...] = ()
    evidence: tuple[Hit, ...] = ()


class View:
    """A lead's hits as the rules see them at one moment of event time (`at_ms`, or None for
    everything known), since the last disqualification or demotion if there was one."""

    __slots__ = ("at_ms", "half_life_ms", "hits", "profile", "rules")

    def __init__(self, rules: Ruleset, state: LeadState, at_ms: int | None) -> None:
        self.rules = rules
        self.half_life_ms = rules.engagement.half_life
        self.profile = state.profile
        self.at_ms = at_ms
        start = state.epoch_start_ms
        if start is None and at_ms is None:
            self.hits = state.hits
        else:
            low = -(2**62) if start is None else start
            high = 2**62 if at_ms is None else at_ms
            self.hits = {
                s: tuple(h for h in hs if low <= h.at_ms <= high) for s, hs in state.hits.items()
            }

    def _points(self, hits: tuple[Hit, ...]) -> float:
        """The points of a signal's hits now: positive points halve every half-life;
        penalties stay."""
        half_life, at_ms = self.half_life_ms, self.at_ms
        if half_life is None or at_ms is None:
            return sum(h.points for h in hits)
        return sum(
            h.points * 0.5 ** ((at_ms - h.at_ms) / half_life) if h.points > 0 else h.points
            for h in hits
        )

    def engagement(self) -> tuple[float, tuple[Hit, ...]]:
        """The engagement score (decayed, capped) and the positive hits it rests on."""
        return self.engagement_score(), self._positive_hits()

    def engagement_score(self) -> float:
        """The engagement score: each signal's decayed points (up to its max_points), capped."""
        total = 0.0
        for sig_id, hits in self.hits.items():
            signal = self.rules.signals.get(sig_id)
            if signal is None:  # a signal the ruleset no longer has: its hits count for nothing
                continue
            points = self._points(hits)
            if signal.max_points is not None:
                points = min(points, signal.max_points)
            total += points
        return self._capped("engagement", round(total, 6))

    def _positive_hits(self) -> tuple[Hit, ...]:
        """The hits the engagement score rests on: those with positive points, of the
        ruleset's signals."""
        signals = self.rules.signals
        return tuple(
            h
            for sig_id, hits in self.hits.items()
            if sig_id in signals
            for h in hits
            if h.points > 0
        )

    def _capped(self, score: str, value: float) -> float:
        for cap in self.rules.cap:
            if cap.score == score and value > cap.max and self.holds(cap.when) is not None:
                value = cap.max
        return value

    def fit(self) -> tuple[float, tuple[Reason, ...]]:
        """The fit score (capped) and a reason for each fit rule that holds."""
        total = 0.0
        reasons: list[Reason] = []
        for rule in self.rules.fit:
            if self.holds(rule.when) is not None:
                total += rule.points
                reasons.append(Reason(f"fit.{rule.rule}", rule.description, rule.points))
        return self._capped("fit", total), tuple(reasons)

    def scores(self) -> dict[str, float]:
        """Both scores, as a stage change reports them."""
        return {"engagement": self.engagement_score(), "fit": self.fit()[0]}

    def holds(self, cond: Condition | ProfileCondition) -> Met | None:
        """Why the condition holds, or None if it does not."""
        judge = self._JUDGES.get(type(cond))
        if judge is None:
            raise TypeError(f"unknown condition {cond!r}")
        return judge(self, cond)

    def _all(self, cond: AllCondition) -> Met | None:
        parts: list[Met] = []
        for part in cond.all:
            met = self.holds(part)
            if met is None:  # the rest cannot change the outcome
                return None
            parts.append(met)
        return _combine(parts)

    def _any(self, cond: AnyCondition) -> Met | None:
        hits = self.hits
        met: list[Met] = []
        for part in cond.any:
            # A signal without a hit at this moment does not hold (as _signal says), and
            # most parts of an `any` are such signals: passed over without the calls.
            if type(part) is SignalCondition and not hits.get(part.signal):
                continue
            if (holds := self.holds(part)) is not None:
                met.append(holds)
        return _combine(met) if met else None

    def _not(self, cond: NotCondition) -> Met | None:
        if self.holds(cond.not_) is not None:
            return None
        text = cond.description or f"Not: {condition_name(cond.not_)}"
        return Met((Reason(f"not.{condition_name(cond.not_)}", text),))

    def _signal(self, cond: SignalCondition) -> Met | None:
        hits = self.hits.get(cond.signal)
        if not hits:  # min_count is at least 1
            return None
        if cond.within is not None:
            end = self.at_ms if self.at_ms is not None else max((h.at_ms for h in hits), default=0)
            hits = tuple(h for h in hits if end - cond.within < h.at_ms <= end)
        if len(hits) < cond.min_count:
            return None
        signal = self.rules.signals[cond.signal]
        points = sum(h.points for h in hits)
        if signal.max_points is not None:
            points = min(points, signal.max_points)
        if cond.min_points is not None and points < cond.min_points:
            return None
        text = cond.description or signal.description
        if len(hits) > 1:
            text += f" ({len(hits)} times"
            text += f" within {duration_text(cond.within)})" if cond.within else ")"
        return Met((Reason(cond.signal, text, points or None),), hits)

    def _score(self, cond: ScoreCondition) -> Met | None:
        engagement = cond.score == "engagement"
        extra: tuple[Reason, ...] = ()
        if engagement:
            value = self.engagement_score()
        else:
            value, extra = self.fit()
        if not cond.holds(value):
            return None
        evidence = self._positive_hits() if engagement else ()
        bound = _bound_text(cond)
        text = cond.description or f"{cond.score.capitalize()} score {value:g} {bound}"
        return Met((Reason(f"{cond.score}_score", text, value), *extra), evidence)

    def _profile(self, cond: ProfileCondition) -> Met | None:
        value = self.profile.get(cond.profile)
        if cond.exists is not None and (value is not None) != cond.exists:
            return None
        if cond.exists is None and value is None:
            return None
        if cond.equals is not None and value != cond.equals:
            return None
        if cond.in_ is not None and value not in cond.in_:
            return None
        if cond.in_list is not None and not _in_list(value, self.rules.lists[cond.in_list]):
            return None
        if cond.gte is not None and not (_is_number(value) and value >= cond.gte):
            return None
        if cond.lte is not None and not (_is_number(value) and value <= cond.lte):
            return None
        text = cond.description or f"{cond.profile.replace('_', ' ')} is {value}"
        return Met((Reason(f"profile.{cond.profile}", text),))

    # How holds() judges each kind of condition, by exact type (cheaper than a chain of
    # isinstance checks on pydantic models).
    _JUDGES: ClassVar[dict[type, Callable[[View, Any], Met | None]]] = {
        SignalCondition: _signal,
        ScoreCondition: _score,
        ProfileCondition: _profile,
        AllCondition: _all,
        AnyCondition: _any,
        NotCondition: _not,
    }


@dataclass(frozen=True, slots=True)
class Judged:
    """A condition as the stage machine judges it, with what is known of it up front: the
    signals it needs a hit of to hold (None: it may hold without any) and whether it reads
    only the profile (then it holds at every moment or at none)."""

    cond: Condition
    needs: frozenset[str] | None
    profile_only: bool

    @classmethod
    def of(cls, cond: Condition) -> Judged:
        """The condition with what its structure tells."""
        return cls(cond, required_signals(cond), profile_only(cond))

    def latest(self, state: LeadState, views: Sequence[View]) -> tuple[Met, View] | None:
        """Why the condition holds at the first of the views (latest first) where it does,
        and that view; None when it holds at none (a lead without a hit of any needed
        signal is not judged at all)."""
        if self.needs is not None and self.needs.isdisjoint(state.hits):
            return None
        for view in views[:1] if self.profile_only else views:
            met = view.holds(self.cond)
            if met is not None:
                return met, view
        return None


def condition_name(cond: Condition) -> str:
    """A short stable name of a condition, for reasons about conditions that do not hold."""
    if isinstance(cond, SignalCondition):
        return cond.signal
    if isinstance(cond, ScoreCondition):
        return f"{cond.score}_score"
    if isinstance(cond, ProfileCondition):
        return f"profile.{cond.profile}"
    if isinstance(cond, AllCondition):
        return "all(" + ",".join(condition_name(c) for c in cond.all) + ")"
    if isinstance(cond, AnyCondition):
        return "any(" + ",".join(condition_name(c) for c in cond.any) + ")"
    return f"not.{condition_name(cond.not_)}"


def required_signals(cond: Condition | ProfileCondition) -> frozenset[str] | None:
    """Signals of which a lead needs a hit for the condition to hold (without one it holds
    at no moment), or None when it may hold without any hit (a score, profile or not)."""
    if isinstance(cond, SignalCondition):  # min_count is at least 1
        return frozenset((cond.signal,))
    if isinstance(cond, AllCondition):  # every part must hold: any part's need will do
        for part in cond.all:
            need = required_signals(part)
            if need is not None:
                return need
        return None
    if isinstance(cond, AnyCondition):  # some part must hold: one of the parts' needs
        union: set[str] = set()
        for part in cond.any:
            need = required_signals(part)
            if need is None:
                return None
            union |= need
        return frozenset(union)
    return None


def profile_only(cond: Condition | ProfileCondition) -> bool:
    """Whether a condition reads only the lead's profile: it holds at every moment of event
    time or at none."""
    if isinstance(cond, ProfileCondition):
        return True
    if isinstance(cond, AllCondition):
        return all(profile_only(part) for part in cond.all)
    if isinstance(cond, AnyCondition):
        return all(profile_only(part) for part in cond.any)
    if isinstance(cond, NotCondition):
        return profile_only(cond.not_)
    return False


def matches(match: Match, properties: Mapping[str, Any]) -> bool:
    """Whether an event's properties pass every property test of a signal's match."""
    return passes(tuple(match.tests.items()), properties)


def passes(tests: PropertyTests, properties: Mapping[str, Any]) -> bool:
    """Whether an event's properties pass every (property name, test) of a match."""
    return all(_test(test, properties.get(name)) for name, test in tests)


def _in_list(value: Any, names: list[str]) -> bool:
    """Whether a value (e.g. an email domain) is in a ruleset list, case-insensitively;
    a domain also matches when it is a subdomain of a listed one."""
    if not isinstance(value, str):
        return False
    text = value.lower()
    return any(text == name or text.endswith("." + name) for name in map(str.lower, names))


def duration_text(ms: int) -> str:
    """A window of event time in words: 7 days, 1 hour, 90 seconds."""
    for unit, size in (("days", 86_400_000), ("hours", 3_600_000), ("minutes", 60_000)):
        if ms >= size and ms % size == 0:
            return f"{ms // size} {unit}" if ms != size else f"1 {unit[:-1]}"
    return f"{ms / 1000:g} seconds"


def _test(test: PropertyTest, value: Any) -> bool:
    if value is None:
        return False
    if isinstance(test, Comparison):
        return _is_number(value) and test.holds(value)
    if isinstance(test, list):
        if isinstance(value, list):
            return any(v in test for v in value)
        return value in test
    if isinstance(value, list):
        return test in value
    return bool(value == test)


def _is_number(value: Any) -> TypeGuard[float]:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _bound_text(cond: Comparison) -> str:
    parts = []
    if cond.gte is not None:
        parts.append(f"reached {cond.gte:g}")
    if cond.gt is not None:
        parts.append(f"is above {cond.gt:g}")
    if cond.lte is not None:
        parts.append(f"is at most {cond.lte:g}")
    if cond.lt is not None:
        parts.append(f"is below {cond.lt:g}")
    return " and ".join(parts)


def _combine(parts: Iterable[Met]) -> Met:
    reasons: list[Reason] = []
    evidence: list[Hit] = []
    for part in parts:
        reasons.extend(part.reasons)
        evidence.extend(part.evidence)
    return Met(tuple(reasons), tuple(evidence))


def unique_reasons(reasons: Sequence[Reason]) -> tuple[Reason, ...]:
    """The reasons in order, each rule once (its first reason)."""
    seen: set[str] = set()
    out: list[Reason] = []
    for reason in reasons:
        if reason.rule not in seen:
            seen.add(reason.rule)
            out.append(reason)
    return tuple(out)
