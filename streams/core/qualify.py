"""Qualification as a pure function: (lead state, event) -> (new state, stage changes, ...)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Literal

from streams.core.decay import demotion_ms
from streams.core.evaluate import Judged, Met, PropertyTests, View, passes, unique_reasons
from streams.core.events import LeadEvent, Reason, Stage, StageChanged, from_ms, slot_setters
from streams.core.ruleset import Disqualifier, Ruleset, SignalCondition
from streams.core.sla import SlaEvent
from streams.core.sla_state import next_sla_ms, on_changes, on_event, on_tick
from streams.core.state import Hit, LeadState, SlaClock

ANONYMOUS_PREFIX = "anon:"
# An anonymous visitor keeps at most this many events for the lead it may turn out to be.
MAX_HELD = 200
# A lead remembers at most this many recent event ids for deduplication (besides its hits).
MAX_SEEN = 1000
# A lead keeps at most this many hits per signal, the ones recorded last: a signal counts
# (points, "n times", evidence) at most its last 32 hits. This bounds a very active lead's
# state and the cost of each of its events; simulated leads have at most 9 per signal.
MAX_HITS_PER_SIGNAL = 32
# Positive points are negligible after this many half-lives (2**-30 of their value).
NEGLIGIBLE_HALF_LIVES = 30
# next_due_ms remembers the SLA due time of at most this many running clocks: a clock
# mostly stays the same object from event to event, and its deadlines (business hours in
# a time zone) cost some 50 µs to work out.
SLA_DUE_MEMO = 10_000


def routing_key(event: LeadEvent) -> str:
    """The key an input event is processed under: the lead, or the anonymous visitor
    (an identify goes to the visitor first, which then hands its history to the lead)."""
    if event.anonymous_id is not None and (event.lead_id is None or event.type == "identify"):
        return f"{ANONYMOUS_PREFIX}{event.anonymous_id}"
    return event.lead_id or ""


@dataclass(frozen=True, slots=True)
class Rejected:
    """An event the core refuses, with a dead-letter reason code and a message."""

    code: str
    message: str


@dataclass(frozen=True, slots=True)
class Decision:
    """What processing one event (or timer tick) did: the new state, stage changes to emit,
    events to forward to another key (by their lead_id), a rejection to report, if any,
    and SLA events to emit."""

    state: LeadState
    changes: tuple[StageChanged, ...] = ()
    forward: tuple[LeadEvent, ...] = ()
    rejection: Rejected | None = None
    sla: tuple[SlaEvent, ...] = ()


class Qualifier:
    """Applies one ruleset to lead states; deterministic and free of I/O.

    With `sla=False` the ruleset's SLA policies are left out: no SLA clocks, no SLA events
    (a shadow ruleset's evaluation)."""

    def __init__(self, rules: Ruleset, *, sla: bool = True) -> None:
        self.rules = rules
        self.sla = rules.sla if sla else None
        self.lateness_ms = rules.allowed_lateness
        self.half_life_ms = rules.engagement.half_life
        self.time_dependent = rules.time_dependent
        # By event type: the signals that match it, each with one match's property tests.
        self._by_type: dict[str, list[tuple[str, PropertyTests]]] = {}
        for sig_id, signal in rules.signals.items():
            for match in signal.match:
                tests = tuple(match.tests.items())
                self._by_type.setdefault(match.type, []).append((sig_id, tests))
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
        # The disqualifiers and stage criteria with what their structure tells up front.
        self._disqualifiers = [(rule, Judged.of(rule.when)) for rule in rules.disqualify]
        self._criteria = {stage: Judged.of(rule.criteria) for stage, rule in rules.stages.items()}
        # (lead key, SLA clock) -> next_sla_ms of it (see next_due_ms).
        self._sla_due: dict[tuple[str, SlaClock], int | None] = {}

    # -- the core functions -----------------------------------------------------------

    def process(self, state: LeadState, event: LeadEvent, seen_ms: int | None = None) -> Decision:
        """Record an event and emit every stage change it completes, in order, and the SLA
        events that came due before it stopped an SLA clock.

        `seen_ms` is the wall-clock time the event is processed (for the SLA backlog rule);
        by default its own event time (a replay judged as if live)."""
        if _already_seen(state, event.event_id):
            return Decision(state)
        if state.key.startswith(ANONYMOUS_PREFIX):
            return self._anonymous(state, event)
        late = self._too_late(state, event)
        if late is not None and self.rules.late_events == "dead_letter":
            return Decision(state, rejection=late)
        seen = event.at_ms if seen_ms is None else seen_ms
        changes: list[StageChanged] = []
        sla: list[SlaEvent] = []
        if late is None and event.type != "profile":
            state, changes = self.advance(state, event.at_ms)
            state, sla = on_changes(self.sla, state, changes, seen)
        state = self._record(state, event)
        # The event works the stage the lead is in, not the one it makes the lead enter.
        state, worked = on_event(self.sla, state, event)
        entered = len(changes)
        while (step := self._next_step(state, event)) is not None:
            state, change = step
            changes.append(change)
        state, left = on_changes(self.sla, state, changes[entered:], seen)
        # _record kept the recent event ids for the clock, which has not moved since.
        pruned = self._prune(state, seen_recent=True)
        return _decided(pruned, tuple(changes), (*sla, *worked, *left))

    def apply(self, state: LeadState, event: LeadEvent) -> tuple[LeadState, list[StageChanged]]:
        """process() for one key, without forwarding or rejections (a rejected event
        changes nothing)."""
        decision = self.process(state, event)
        return decision.state, list(decision.changes)

    def advance(self, state: LeadState, now_ms: int) -> tuple[LeadState, list[StageChanged]]:
        """Apply every time-driven change (demotion on decay) due by event time now_ms."""
        due = demotion_ms(self.rules, state, until_ms=now_ms - self.lateness_ms)
        if due is None or self.rules.demotion is None:
            return state, []
        demotion = self.rules.demotion
        view = View(self.rules, state, due)
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

    @property
    def timed(self) -> bool:
        """Whether anything happens without an event (demotion, SLA events): a worker then
        runs a timer that sends tick records."""
        return self.rules.demotion is not None or self.sla is not None

    def tick(self, state: LeadState, now_ms: int) -> Decision:
        """A timer tick at now_ms: the time-driven changes due by then (advance), then the
        SLA events of the lead's running SLA clock due by then."""
        state, changes = self.advance(state, now_ms)
        state, left = on_changes(self.sla, state, changes, now_ms)
        state, due = on_tick(self.sla, state, now_ms)
        return Decision(state, tuple(changes), sla=(*left, *due))

    def next_due_ms(self, state: LeadState) -> int | None:
        """The time at which tick() will next have something to do, if ever: a time-driven
        change (event time) or an SLA event."""
        due = demotion_ms(self.rules, state)
        sla_ms = None if state.sla is None else self._next_sla_ms(state)
        if due is None:
            return sla_ms
        due += self.lateness_ms
        return due if sla_ms is None else min(due, sla_ms)

    def _next_sla_ms(self, state: LeadState) -> int | None:
        """next_sla_ms, remembered by the lead's key and clock (a function of those alone)."""
        assert state.sla is not None
        memo = self._sla_due
        entry = (state.key, state.sla)
        if entry in memo:
            return memo[entry]
        due = memo[entry] = next_sla_ms(self.sla, state)
        if len(memo) > SLA_DUE_MEMO:
            del memo[next(iter(memo))]
        return due

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
        for sig_id, tests in self._by_type.get(event.type, ()):
            if sig_id not in found and passes(tests, event.properties):
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
                hits[sig_id] = (*hits.get(sig_id, ()), hit)[-MAX_HITS_PER_SIGNAL:]
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
        # Old event ids go here already, not only in _prune (nothing in between reads them
        # and the clock stays): the event then makes one new state, not two.
        return state.recorded(
            seen=self._recent({**state.seen, event.event_id: at_ms}, clock),
            hits=hits,
            profile=profile,
            profile_at_ms=profile_at,
            clock_ms=clock,
        )

    def _prune(self, state: LeadState, seen_recent: bool = False) -> LeadState:
        """Drop what can no longer count: hits before the current epoch or outside every
        window (plus lateness), and old event ids (the same state when nothing is dropped;
        seen_recent: the ids are those _recent keeps at the state's clock already)."""
        seen = state.seen if seen_recent else self._recent(state.seen, state.clock_ms)
        hits = self._current_hits(state)
        if seen is state.seen and hits is state.hits:
            return state
        return replace(state, hits=hits, seen=seen)

    def _current_hits(self, state: LeadState) -> dict[str, tuple[Hit, ...]]:
        """The hits that can still count: since the current epoch and within some window
        (plus lateness) of the lead's clock; state.hits itself when all of them can."""
        clock = state.clock_ms
        epoch = state.epoch_start_ms
        if epoch is None and not self._prunable:
            return state.hits
        hits: dict[str, tuple[Hit, ...]] = {}
        dropped = False
        for sig_id, sig_hits in state.hits.items():
            keep = self._keep_ms.get(sig_id)
            oldest = max(
                epoch if epoch is not None else -(2**62),
                clock - keep if keep is not None and clock is not None else -(2**62),
            )
            kept = tuple(h for h in sig_hits if h.at_ms >= oldest)
            dropped = dropped or not kept or len(kept) < len(sig_hits)
            if kept:
                hits[sig_id] = kept
        return hits if dropped else state.hits

    def _recent(self, seen: dict[str, int], clock: int | None) -> dict[str, int]:
        """The event ids worth remembering: those within the allowed lateness, at most
        MAX_SEEN (older duplicates are too late anyway, or hits, which are checked too)."""
        if clock is not None:
            horizon = clock - self.lateness_ms
            if seen and min(seen.values()) < horizon:
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

    def _views(self, state: LeadState) -> list[View]:
        """The lead as the rules see it at each moment they judge: now, and (when windows
        or decay make time matter) every hit within the allowed lateness, so that a late
        event gives the same outcome as one in order."""
        clock = state.clock_ms
        if not self.time_dependent or clock is None:
            return [View(self.rules, state, None)]
        since = clock - self.lateness_ms
        moments = {clock, since}
        for sig_hits in state.hits.values():
            moments.update(h.at_ms for h in sig_hits if since <= h.at_ms <= clock)
        return [View(self.rules, state, t) for t in sorted(moments, reverse=True)]

    def _next_step(
        self, state: LeadState, event: LeadEvent
    ) -> tuple[LeadState, StageChanged] | None:
        views = self._views(state)
        if state.stage != "disqualified" and (found := self._disqualifier(state, views)):
            rule, met, view = found
            reasons = (Reason(f"disqualify.{rule.reason}", rule.description), *met.reasons)
            return self._change(
                state, event, "disqualified", Met(reasons, met.evidence), view, rule.reason
            )
        can_qualify = state.stage == "lead" or (
            state.stage == "disqualified"
            and self.rules.requalify
            and self._disqualifier(state, views[:1]) is None
        )
        if can_qualify and (entered := self._criteria_met(state, views, "sql")):
            return self._change(state, event, "sql", *entered)
        if state.stage == "sql" and (entered := self._criteria_met(state, views, "sqo")):
            return self._change(state, event, "sqo", *entered)
        return None

    def _disqualifier(
        self, state: LeadState, views: list[View]
    ) -> tuple[Disqualifier, Met, View] | None:
        """The first disqualifier that holds at some moment, why, and the latest such
        moment."""
        hits = state.hits
        for rule, judged in self._disqualifiers:
            needs = judged.needs  # most rules need a signal the lead has no hit of
            if needs is not None and needs.isdisjoint(hits):
                continue
            if found := judged.latest(state, views):
                return rule, *found
        return None

    def _criteria_met(
        self, state: LeadState, views: list[View], stage: Literal["sql", "sqo"]
    ) -> tuple[Met, View] | None:
        """Why the lead meets a stage's criteria at the latest moment it does, if any."""
        return self._criteria[stage].latest(state, views)

    def _change(
        self,
        state: LeadState,
        event: LeadEvent,
        to_stage: Stage,
        met: Met,
        view: View,
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
            reasons=unique_reasons(met.reasons),
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
        return View(self.rules, state, at_ms).scores()


_DECISION_SLOTS = slot_setters(Decision, ("state", "changes", "forward", "rejection", "sla"))


def _decided(
    state: LeadState, changes: tuple[StageChanged, ...], sla: tuple[SlaEvent, ...]
) -> Decision:
    """Decision(state, changes, sla=sla), built slot by slot (see slot_setters): every
    event makes one."""
    decision = object.__new__(Decision)
    set_state, set_changes, set_forward, set_rejection, set_sla = _DECISION_SLOTS
    set_state(decision, state)
    set_changes(decision, changes)
    set_forward(decision, ())
    set_rejection(decision, None)
    set_sla(decision, sla)
    return decision


def _already_seen(state: LeadState, event_id: str) -> bool:
    if event_id in state.seen:
        return True
    for hits in state.hits.values():
        for hit in hits:
            if hit.event_id == event_id:
                return True
    return False
