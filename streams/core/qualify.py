"""Qualification as a pure function: (lead state, event) -> (new state, [stage changes])."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, TypeGuard

from streams.core.events import LeadEvent, Reason, Stage, StageChanged
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

ANONYMOUS_PREFIX = "anon:"


@dataclass(frozen=True, slots=True)
class _Met:
    """Why a condition holds: the reasons and the events they rest on."""

    reasons: tuple[Reason, ...] = ()
    evidence: tuple[Hit, ...] = ()


class Qualifier:
    """Applies one ruleset to lead states; deterministic and free of I/O."""

    def __init__(self, rules: Ruleset) -> None:
        self.rules = rules
        self._by_type: dict[str, list[tuple[str, Match]]] = {}
        for sig_id, signal in rules.signals.items():
            for match in signal.match:
                self._by_type.setdefault(match.type, []).append((sig_id, match))

    # -- the core function --------------------------------------------------------------

    def apply(self, state: LeadState, event: LeadEvent) -> tuple[LeadState, list[StageChanged]]:
        """Record an event and emit every stage change it completes, in order."""
        if event.event_id in state.seen:
            return state, []
        state = self._record(state, event)
        if state.key.startswith(ANONYMOUS_PREFIX):
            return state, []
        changes: list[StageChanged] = []
        while (step := self._next_step(state, event)) is not None:
            state, change = step
            changes.append(change)
        return state, changes

    def replay(self, events: Iterable[LeadEvent], key: str) -> tuple[LeadState, list[StageChanged]]:
        """Apply a sequence of events to a fresh state (tests, backtests, references)."""
        state = LeadState(key=key)
        out: list[StageChanged] = []
        for event in events:
            state, changes = self.apply(state, event)
            out.extend(changes)
        return state, out

    # -- recording ----------------------------------------------------------------------

    def signals_of(self, event: LeadEvent) -> list[str]:
        """The ids of the signals an event matches."""
        found: list[str] = []
        for sig_id, match in self._by_type.get(event.type, ()):
            if sig_id not in found and _matches(match, event.properties):
                found.append(sig_id)
        return found

    def _record(self, state: LeadState, event: LeadEvent) -> LeadState:
        at_ms = event.at_ms
        hits = state.hits
        matched = self.signals_of(event)
        if matched:
            hits = dict(hits)
            for sig_id in matched:
                hit = Hit(event.event_id, at_ms, self.rules.signals[sig_id].points)
                hits[sig_id] = (*hits.get(sig_id, ()), hit)
        profile, profile_at = state.profile, state.profile_at_ms
        if event.type == "profile":
            profile, profile_at = dict(profile), dict(profile_at)
            for name, value in event.properties.items():
                if value is not None and at_ms >= profile_at.get(name, at_ms):
                    profile[name] = value
                    profile_at[name] = at_ms
        return replace(
            state,
            seen=state.seen | {event.event_id},
            hits=hits,
            profile=profile,
            profile_at_ms=profile_at,
        )

    # -- the stage machine ------------------------------------------------------------------

    def _next_step(
        self, state: LeadState, event: LeadEvent
    ) -> tuple[LeadState, StageChanged] | None:
        view = _View(self, state)
        if state.stage != "disqualified":
            for rule in self.rules.disqualify:
                met = view.holds(rule.when)
                if met is not None:
                    reasons = (Reason(f"disqualify.{rule.reason}", rule.description), *met.reasons)
                    return self._change(
                        state,
                        event,
                        "disqualified",
                        _Met(reasons, met.evidence),
                        view,
                        rule.reason,
                        epoch_start_ms=event.at_ms + 1 if self.rules.requalify else None,
                    )
        can_qualify = state.stage == "lead" or (
            state.stage == "disqualified" and self.rules.requalify
        )
        if can_qualify:
            met = view.holds(self.rules.stages["sql"].criteria)
            if met is not None:
                return self._change(state, event, "sql", met, view)
        if state.stage == "sql":
            met = view.holds(self.rules.stages["sqo"].criteria)
            if met is not None:
                return self._change(state, event, "sqo", met, view)
        return None

    def _change(
        self,
        state: LeadState,
        event: LeadEvent,
        to_stage: Stage,
        met: _Met,
        view: _View,
        dq_reason: str | None = None,
        epoch_start_ms: int | None = None,
    ) -> tuple[LeadState, StageChanged]:
        sequence = state.sequence + 1
        evidence = sorted({(h.at_ms, h.event_id) for h in met.evidence})
        change = StageChanged(
            lead_id=state.key,
            sequence=sequence,
            from_stage=state.stage,
            to_stage=to_stage,
            occurred_at=event.occurred_at,
            trigger_event_id=event.event_id,
            reasons=_unique(met.reasons),
            evidence=tuple(eid for _, eid in evidence),
            disqualification_reason=dq_reason,
            scores=view.scores(),
            ruleset_name=self.rules.name,
            ruleset_version=self.rules.version,
        )
        new_state = replace(state, stage=to_stage, sequence=sequence)
        if to_stage == "disqualified":
            new_state = replace(
                new_state,
                disqualified_at_ms=event.at_ms,
                disqualification_reason=dq_reason,
                epoch_start_ms=epoch_start_ms
                if epoch_start_ms is not None
                else state.epoch_start_ms,
            )
        return new_state, change

    def scores(self, state: LeadState) -> dict[str, float]:
        """The lead's current scores."""
        return _View(self, state).scores()


class _View:
    """A lead's hits as the rules see them (since the last disqualification, if re-qualifying)."""

    def __init__(self, qualifier: Qualifier, state: LeadState) -> None:
        self.rules = qualifier.rules
        self.profile = state.profile
        start = state.epoch_start_ms
        if start is None:
            self.hits = state.hits
        else:
            self.hits = {
                s: tuple(h for h in hs if h.at_ms >= start) for s, hs in state.hits.items()
            }

    def engagement(self) -> tuple[float, tuple[Hit, ...]]:
        total = 0.0
        evidence: list[Hit] = []
        for sig_id, hits in self.hits.items():
            signal = self.rules.signals[sig_id]
            points = sum(h.points for h in hits)
            if signal.max_points is not None:
                points = min(points, signal.max_points)
            total += points
            evidence.extend(h for h in hits if h.points > 0)
        return total, tuple(evidence)

    def fit(self) -> tuple[float, tuple[Reason, ...]]:
        total = 0.0
        reasons: list[Reason] = []
        for rule in self.rules.fit:
            if self.holds(rule.when) is not None:
                total += rule.points
                reasons.append(Reason(f"fit.{rule.rule}", rule.description, rule.points))
        return total, tuple(reasons)

    def scores(self) -> dict[str, float]:
        return {"engagement": self.engagement()[0], "fit": self.fit()[0]}

    def holds(self, cond: Condition | ProfileCondition) -> _Met | None:
        """Why the condition holds, or None if it does not."""
        if isinstance(cond, SignalCondition):
            return self._signal(cond)
        if isinstance(cond, ScoreCondition):
            return self._score(cond)
        if isinstance(cond, ProfileCondition):
            return self._profile(cond)
        if isinstance(cond, AllCondition):
            parts = [self.holds(c) for c in cond.all]
            if any(p is None for p in parts):
                return None
            return _combine(p for p in parts if p is not None)
        if isinstance(cond, AnyCondition):
            parts = [self.holds(c) for c in cond.any]
            met = [p for p in parts if p is not None]
            return _combine(met) if met else None
        if isinstance(cond, NotCondition):
            if self.holds(cond.not_) is not None:
                return None
            text = cond.description or f"Not: {_name(cond.not_)}"
            return _Met((Reason(f"not.{_name(cond.not_)}", text),))
        raise TypeError(f"unknown condition {cond!r}")

    def _signal(self, cond: SignalCondition) -> _Met | None:
        hits = self.hits.get(cond.signal, ())
        if len(hits) < cond.min_count:
            return None
        signal = self.rules.signals[cond.signal]
        text = cond.description or signal.description
        if len(hits) > 1:
            text += f" ({len(hits)} times)"
        points = sum(h.points for h in hits)
        if signal.max_points is not None:
            points = min(points, signal.max_points)
        return _Met((Reason(cond.signal, text, points or None),), hits)

    def _score(self, cond: ScoreCondition) -> _Met | None:
        if cond.score == "engagement":
            value, evidence = self.engagement()
            extra: tuple[Reason, ...] = ()
        else:
            value, extra = self.fit()
            evidence = ()
        if not cond.holds(value):
            return None
        bound = _bound_text(cond)
        text = cond.description or f"{cond.score.capitalize()} score {value:g} {bound}"
        return _Met((Reason(f"{cond.score}_score", text, value), *extra), evidence)

    def _profile(self, cond: ProfileCondition) -> _Met | None:
        value = self.profile.get(cond.profile)
        if cond.exists is not None and (value is not None) != cond.exists:
            return None
        if cond.exists is None and value is None:
            return None
        if cond.equals is not None and value != cond.equals:
            return None
        if cond.in_ is not None and value not in cond.in_:
            return None
        if cond.gte is not None and not (_is_number(value) and value >= cond.gte):
            return None
        if cond.lte is not None and not (_is_number(value) and value <= cond.lte):
            return None
        text = cond.description or f"{cond.profile.replace('_', ' ')} is {value}"
        return _Met((Reason(f"profile.{cond.profile}", text),))


def _name(cond: Condition) -> str:
    """A short stable name of a condition, for reasons about conditions that do not hold."""
    if isinstance(cond, SignalCondition):
        return cond.signal
    if isinstance(cond, ScoreCondition):
        return f"{cond.score}_score"
    if isinstance(cond, ProfileCondition):
        return f"profile.{cond.profile}"
    if isinstance(cond, AllCondition):
        return "all(" + ",".join(_name(c) for c in cond.all) + ")"
    if isinstance(cond, AnyCondition):
        return "any(" + ",".join(_name(c) for c in cond.any) + ")"
    return f"not.{_name(cond.not_)}"


def _matches(match: Match, properties: Mapping[str, Any]) -> bool:
    return all(_test(test, properties.get(name)) for name, test in match.tests.items())


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


def _combine(parts: Iterable[_Met]) -> _Met:
    reasons: list[Reason] = []
    evidence: list[Hit] = []
    for part in parts:
        reasons.extend(part.reasons)
        evidence.extend(part.evidence)
    return _Met(tuple(reasons), tuple(evidence))


def _unique(reasons: Sequence[Reason]) -> tuple[Reason, ...]:
    seen: set[str] = set()
    out: list[Reason] = []
    for reason in reasons:
        if reason.rule not in seen:
            seen.add(reason.rule)
            out.append(reason)
    return tuple(out)
