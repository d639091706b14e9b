"""Qualification as a pure function: (lead state, event) -> (new state, stage changes, ...)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, TypeGuard

from streams.core.events import LeadEvent, Reason, Stage, StageChanged, from_ms
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
# An anonymous visitor keeps at most this many events for the lead it may turn out to be.
MAX_HELD = 200
# A lead remembers at most this many recent event ids for deduplication (besides its hits).
MAX_SEEN = 1000
# Positive points are negligible after this many half-lives (2**-30 of their value).
NEGLIGIBLE_HALF_LIVES = 30


def routing_key(event: LeadEvent) -> str:
    """The key an input event is processed under: the lead, or the anonymous visitor
    (an identify goes to the visitor first, which then hands its history to the lead)."""
    if event.anonymous_id is not None and (event.lead_id is None or event.type == "identify"):
        return f"{ANONYMOUS_PREFIX}{event.anonymous_id}"
    return event.lead_id or ""


@dataclass(frozen=True, slots=True)
class _Met:
    """Why a condition holds: the reasons and the events they rest on."""

    reasons: tuple[Reason, ...] = ()
    evidence: tuple[Hit, ...] = ()


@dataclass(frozen=True, slots=True)
class Rejected:
    """An event the core refuses, with a dead-letter reason code and a message."""

    code: str
    message: str


@dataclass(frozen=True, slots=True)
class Decision:
    """What processing one event did: the new state, stage changes to emit, events to
    forward to another key (by their lead_id), and a rejection to report, if any."""

    state: LeadState
    changes: tuple[StageChanged, ...] = ()
    forward: tuple[LeadEvent, ...] = ()
    rejection: Rejected | None = None


class Qualifier:
    """Applies one ruleset to lead states; deterministic and free of I/O."""

    def __init__(self, rules: Ruleset) -> None:
        self.rules = rules
        self.lateness_ms = rules.allowed_lateness
        self.half_life_ms = rules.engagement.half_life
        self.time_dependent = rules.time_dependent
        self._by_type: dict[str, list[tuple[str, Match]]] = {}
        for sig_id, signal in rules.signals.items():
            for match in signal.match:
                self._by_type.setdefault(match.type, []).append((sig_id, match))
        # How long each signal's hits matter after the lead's clock: None = always.
        windows: dict[str, list[int | None]] = {}
        for cond in rules.conditions():
            if isinstance(cond, SignalCondition):
                windows.setdefault(cond.signal, []).append(cond.within)
        self._keep_ms: dict[str, int | None] = {}
        for sig_id, signal in rules.signals.items():
            spans = windows.get(sig_id, [])
            if None in spans or signal.points < 0:
                keep: int | None = None
            else:
                keep = max((w for w in spans if w is not None), default=0)
                if signal.points > 0:
                    if self.half_life_ms is None:
                        keep = None
                    else:
                        keep = max(keep, NEGLIGIBLE_HALF_LIVES * self.half_life_ms)
            self._keep_ms[sig_id] = None if keep is None else keep + self.lateness_ms
        self._prunable = any(keep is not None for keep in self._keep_ms.values())

    # -- the core functions -----------------------------------------------------------

    def process(self, state: LeadState, event: LeadEvent) -> Decision:
        """Record an event and emit every stage change it completes, in order."""
        if _already_seen(state, event.event_id):
            return Decision(state)
        if state.key.startswith(ANONYMOUS_PREFIX):
            return self._anonymous(state, event)
        late = self._too_late(state, event)
        if late is not None and self.rules.late_events == "dead_letter":
            return Decision(state, rejection=late)
        changes: list[StageChanged] = []
        if late is None and event.type != "profile":
            state, changes = self.advance(state, event.at_ms)
        state = self._record(state, event)
        while (step := self._next_step(state, event)) is not None:
            state, change = step
            changes.append(change)
        return Decision(self._prune(state), tuple(changes))

    def apply(self, state: LeadState, event: LeadEvent) -> tuple[LeadState, list[StageChanged]]:
        """process() for one key, without forwarding or rejections (a rejected event
        changes nothing)."""
        decision = self.process(state, event)
        return decision.state, list(decision.changes)

    def advance(self, state: LeadState, now_ms: int) -> tuple[LeadState, list[StageChanged]]:
        """Apply every time-driven change (demotion on decay) due by event time now_ms."""
        due = self._demotion_ms(state)
        if due is None or due + self.lateness_ms > now_ms or self.rules.demotion is None:
            return state, []
        demotion = self.rules.demotion
        view = _View(self, state, due)
        text = f"{demotion.description} (engagement fell below {demotion.below:g})"
        sequence = state.sequence + 1
        change = StageChanged(
            lead_id=state.key,
            sequence=sequence,
            from_stage="sql",
            to_stage="lead",
            occurred_at=from_ms(due),
            trigger_event_id=None,
            reasons=(Reason("demotion.engagement_decayed", text),),
            evidence=(),
            disqualification_reason=None,
            scores=view.scores(),
            ruleset_name=self.rules.name,
            ruleset_version=self.rules.version,
        )
        clock = max(state.clock_ms or due, due + self.lateness_ms)
        new_state = replace(
            state,
            stage="lead",
            sequence=sequence,
            stage_at_ms=due,
            epoch_start_ms=due,
            clock_ms=clock,
        )
        return self._prune(new_state), [change]

    def next_due_ms(self, state: LeadState) -> int | None:
        """The event time at which advance() will next have a change to make, if any."""
        due = self._demotion_ms(state)
        return None if due is None else due + self.lateness_ms

    def fold(self, events: Iterable[LeadEvent], key: str) -> tuple[LeadState, list[StageChanged]]:
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

    def _too_late(self, state: LeadState, event: LeadEvent) -> Rejected | None:
        if event.type == "profile" or event.merged_from is not None or state.clock_ms is None:
            return None
        behind = state.clock_ms - event.at_ms
        if behind <= self.lateness_ms:
            return None
        return Rejected(
            "too_late",
            f"event {event.event_id} is {behind / 3_600_000:.1f} h older than the lead's latest"
            f" event time (allowed lateness {self.lateness_ms / 3_600_000:g} h)",
        )

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
        facts = dict(event.properties) if event.type == "profile" else {}
        email = event.properties.get("email") if event.type == "identify" else None
        if isinstance(email, str) and "@" in email and "email_domain" not in profile:
            facts["email_domain"] = email.rsplit("@", 1)[1].lower()
        if facts:
            profile, profile_at = dict(profile), dict(profile_at)
            for name, value in facts.items():
                if value is not None and at_ms >= profile_at.get(name, at_ms):
                    profile[name] = value
                    profile_at[name] = at_ms
        clock = state.clock_ms
        if event.type != "profile":
            clock = at_ms if clock is None else max(clock, at_ms)
        return replace(
            state,
            seen={**state.seen, event.event_id: at_ms},
            hits=hits,
            profile=profile,
            profile_at_ms=profile_at,
            clock_ms=clock,
        )

    def _prune(self, state: LeadState) -> LeadState:
        """Drop what can no longer count: hits before the current epoch or outside every
        window (plus lateness), and old event ids."""
        clock = state.clock_ms
        epoch = state.epoch_start_ms
        seen = self._recent(state.seen, clock)
        if epoch is None and not self._prunable:
            return state if seen is state.seen else replace(state, seen=seen)
        hits: dict[str, tuple[Hit, ...]] = {}
        for sig_id, sig_hits in state.hits.items():
            keep = self._keep_ms.get(sig_id)
            oldest = max(
                epoch if epoch is not None else -(2**62),
                clock - keep if keep is not None and clock is not None else -(2**62),
            )
            kept = tuple(h for h in sig_hits if h.at_ms >= oldest)
            if kept:
                hits[sig_id] = kept
        return replace(state, hits=hits, seen=seen)

    def _recent(self, seen: dict[str, int], clock: int | None) -> dict[str, int]:
        """The event ids worth remembering: those within the allowed lateness, at most
        MAX_SEEN (older duplicates are too late anyway, or hits, which are checked too)."""
        if clock is not None:
            horizon = clock - self.lateness_ms
            if any(at < horizon for at in seen.values()):
                seen = {eid: at for eid, at in seen.items() if at >= horizon}
        if len(seen) > MAX_SEEN:
            seen = dict(sorted(seen.items(), key=lambda item: item[1])[-MAX_SEEN:])
        return seen

    # -- anonymous visitors and identity ------------------------------------------------

    def _anonymous(self, state: LeadState, event: LeadEvent) -> Decision:
        """A visitor's key holds its events until an identify names the lead, then hands
        them (and everything after) to that lead."""
        clock = event.at_ms if state.clock_ms is None else max(state.clock_ms, event.at_ms)
        ids = self._recent({**state.seen, event.event_id: event.at_ms}, clock)
        seen = replace(state, seen=ids, clock_ms=clock)
        visitor = state.key.removeprefix(ANONYMOUS_PREFIX)
        if event.type == "identify" and event.lead_id is not None:
            if state.linked_to is not None and state.linked_to != event.lead_id:
                return Decision(
                    seen,
                    rejection=Rejected(
                        "identity_conflict",
                        f"visitor {visitor} is already identified as lead {state.linked_to};"
                        f" event {event.event_id} identifies it as lead {event.lead_id}",
                    ),
                )
            lead = event.lead_id
            history = [replace(e, lead_id=lead, merged_from=visitor) for e in state.held]
            forward = (*history, replace(event, merged_from=visitor))
            return Decision(replace(seen, linked_to=lead, held=()), forward=forward)
        if state.linked_to is not None:
            forwarded = replace(event, lead_id=state.linked_to, merged_from=visitor)
            return Decision(seen, forward=(forwarded,))
        if not self.signals_of(event):
            return Decision(seen)
        held = (*state.held, event)[-MAX_HELD:]
        return Decision(replace(seen, held=held))

    # -- the stage machine ------------------------------------------------------------------

    def _views(self, state: LeadState) -> list[_View]:
        """The lead as the rules see it at each moment they judge: now, and (when windows
        or decay make time matter) every hit within the allowed lateness, so that a late
        event gives the same outcome as one in order."""
        clock = state.clock_ms
        if not self.time_dependent or clock is None:
            return [_View(self, state, None)]
        since = clock - self.lateness_ms
        moments = {clock, since}
        for sig_hits in state.hits.values():
            moments.update(h.at_ms for h in sig_hits if since <= h.at_ms <= clock)
        return [_View(self, state, t) for t in sorted(moments, reverse=True)]

    def _next_step(
        self, state: LeadState, event: LeadEvent
    ) -> tuple[LeadState, StageChanged] | None:
        views = self._views(state)
        if state.stage != "disqualified":
            for rule in self.rules.disqualify:
                for view in views:
                    met = view.holds(rule.when)
                    if met is not None:
                        reasons = (
                            Reason(f"disqualify.{rule.reason}", rule.description),
                            *met.reasons,
                        )
                        return self._change(
                            state,
                            event,
                            "disqualified",
                            _Met(reasons, met.evidence),
                            view,
                            rule.reason,
                        )
        can_qualify = state.stage == "lead" or (
            state.stage == "disqualified"
            and self.rules.requalify
            and not any(views[0].holds(rule.when) for rule in self.rules.disqualify)
        )
        if can_qualify:
            for view in views:
                met = view.holds(self.rules.stages["sql"].criteria)
                if met is not None:
                    return self._change(state, event, "sql", met, view)
        if state.stage == "sql":
            for view in views:
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
        at_ms = event.at_ms
        new_state = replace(state, stage=to_stage, sequence=sequence, stage_at_ms=at_ms)
        if to_stage == "disqualified":
            epoch = state.epoch_start_ms
            if self.rules.requalify:
                epoch = at_ms + max(self.rules.cooldown, 1)
            new_state = replace(
                new_state,
                disqualified_at_ms=at_ms,
                disqualification_reason=dq_reason,
                epoch_start_ms=epoch,
            )
        return new_state, change

    def scores(self, state: LeadState, at_ms: int | None = None) -> dict[str, float]:
        """The lead's scores now (or at event time at_ms, from what it knows)."""
        if at_ms is None and self.time_dependent:
            at_ms = state.clock_ms
        return _View(self, state, at_ms).scores()

    # -- decay ----------------------------------------------------------------------------

    def _demotion_ms(self, state: LeadState) -> int | None:
        """The first event time, after the lead entered sql, at which its decaying
        engagement fell below the demotion threshold, having been at or above it."""
        demotion = self.rules.demotion
        if demotion is None or self.half_life_ms is None or state.stage != "sql":
            return None
        entered = state.stage_at_ms if state.stage_at_ms is not None else state.clock_ms
        if entered is None:
            return None
        below = demotion.below

        def score(at_ms: int) -> float:
            return _View(self, state, at_ms).engagement()[0]

        moments = sorted(
            {entered} | {h.at_ms for hs in state.hits.values() for h in hs if h.at_ms > entered}
        )
        armed = False
        for i, start in enumerate(moments):
            value = score(start)
            armed = armed or value >= below
            if not armed:
                continue
            if value < below:
                return start
            end = moments[i + 1] - 1 if i + 1 < len(moments) else start + 64 * self.half_life_ms
            if end <= start or score(end) >= below:
                continue
            # Between hits the score only falls (negative points do not decay).
            lo, hi = start, end
            while hi - lo > 1:
                mid = (lo + hi) // 2
                if score(mid) < below:
                    hi = mid
                else:
                    lo = mid
            return hi
        return None


def _already_seen(state: LeadState, event_id: str) -> bool:
    if event_id in state.seen:
        return True
    return any(h.event_id == event_id for hs in state.hits.values() for h in hs)


class _View:
    """A lead's hits as the rules see them at one moment of event time (`at_ms`, or None for
    everything known), since the last disqualification or demotion if there was one."""

    def __init__(self, qualifier: Qualifier, state: LeadState, at_ms: int | None) -> None:
        self.rules = qualifier.rules
        self.half_life_ms = qualifier.half_life_ms
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

    def _points(self, hit: Hit) -> float:
        """A hit's points now: positive points halve every half-life; penalties stay."""
        if self.half_life_ms is None or self.at_ms is None or hit.points <= 0:
            return hit.points
        return float(hit.points * 0.5 ** ((self.at_ms - hit.at_ms) / self.half_life_ms))

    def engagement(self) -> tuple[float, tuple[Hit, ...]]:
        total = 0.0
        evidence: list[Hit] = []
        for sig_id, hits in self.hits.items():
            signal = self.rules.signals[sig_id]
            points = sum(self._points(h) for h in hits)
            if signal.max_points is not None:
                points = min(points, signal.max_points)
            total += points
            evidence.extend(h for h in hits if h.points > 0)
        return self._capped("engagement", round(total, 6)), tuple(evidence)

    def _capped(self, score: str, value: float) -> float:
        for cap in self.rules.cap:
            if cap.score == score and value > cap.max and self.holds(cap.when) is not None:
                value = cap.max
        return value

    def fit(self) -> tuple[float, tuple[Reason, ...]]:
        total = 0.0
        reasons: list[Reason] = []
        for rule in self.rules.fit:
            if self.holds(rule.when) is not None:
                total += rule.points
                reasons.append(Reason(f"fit.{rule.rule}", rule.description, rule.points))
        return self._capped("fit", total), tuple(reasons)

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
            text += f" within {_duration_text(cond.within)})" if cond.within else ")"
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
        if cond.in_list is not None and not _in_list(value, self.rules.lists[cond.in_list]):
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


def _in_list(value: Any, names: list[str]) -> bool:
    """Whether a value (e.g. an email domain) is in a ruleset list, case-insensitively;
    a domain also matches when it is a subdomain of a listed one."""
    if not isinstance(value, str):
        return False
    text = value.lower()
    return any(text == n.lower() or text.endswith("." + n.lower()) for n in names)


def _duration_text(ms: int) -> str:
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
