"""Property-based: arrival order, duplicates, topics and identity hand-overs do not change
where a lead ends, and every stage change is a legal transition."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streams.core.events import LeadEvent, StageChanged, from_ms
from streams.core.qualify import Qualifier, routing_key
from streams.core.replay import Replay, replay_stream
from streams.core.ruleset import load_ruleset
from streams.core.state import LeadState
from streams.tools.expected import LEGAL_TRANSITIONS
from tests.support.timed_rules import HOUR_MS, at, timed

LATENESS_H = 24
# A delay within the allowed lateness: the extremes (in time, a whole lateness late) are the
# interesting cases, so they are drawn often.
delays_within = st.one_of(
    st.just(0), st.just(LATENESS_H * HOUR_MS), st.integers(0, LATENESS_H * HOUR_MS)
)

# (type, properties, topic): the kinds of event a lead's history is drawn from.
POOL: list[tuple[str, dict[str, Any], str]] = [
    ("page_view", {"url": "/pricing", "category": "pricing"}, "website"),
    ("page_view", {"url": "/blog/x", "category": "blog"}, "website"),
    ("webinar_attended", {"webinar": "w"}, "website"),
    ("webinar_registration", {"webinar": "w"}, "website"),
    ("content_download", {"asset": "a.pdf", "asset_type": "ebook"}, "website"),
    ("form_submit", {"form": "demo_request"}, "website"),
    ("form_submit", {"form": "contact"}, "website"),
    ("newsletter_signup", {}, "website"),
    ("email_clicked", {}, "email"),
    ("email_replied", {"intent": "pricing"}, "email"),
    ("meeting_held", {"kind": "consultation"}, "call"),
    (
        "call_completed",
        {"direction": "outbound", "duration_s": 600, "outcome": "connected"},
        "call",
    ),
    (
        "call_completed",
        {
            "direction": "outbound",
            "duration_s": 60,
            "outcome": "connected",
            "disposition": "no_budget",
        },
        "call",
    ),
    ("email_unsubscribed", {}, "email"),
    ("email_bounced", {"bounce": "hard"}, "email"),
]
RARE = {13, 14}  # opt-out and hard bounce: absorbing, so drawn less often
# Pricing views (windowed), webinars (decaying points) and meetings (windowed) are drawn
# more often: they are where event time matters.
common_kinds = st.sampled_from(
    [0, 0, 0, 0, 2, 2, 10, 10, *(i for i in range(len(POOL)) if i not in RARE)]
)

QUALIFIERS = {
    "timed": timed(),
    "timed-accept": timed(('late_events = "dead_letter"', 'late_events = "accept"')),
    **{
        name: Qualifier(load_ruleset(name))
        for name in ("default", "startup", "consultancy", "agency")
    },
}


@st.composite
def histories(draw: st.DrawFn, max_events: int = 14) -> list[tuple[LeadEvent, str]]:
    """One lead's events, with their topics, in event-time order."""
    n = draw(st.integers(1, max_events))
    # Over 3, 10 or 60 days: dense histories put events at the edges of windows.
    span_days = draw(st.sampled_from([3, 10, 60]))
    picks = draw(
        st.lists(
            st.tuples(
                st.one_of(*[common_kinds] * 7, st.sampled_from(sorted(RARE))),
                st.integers(0, span_days * 24 * 4),  # quarter hours
            ),
            min_size=n,
            max_size=n,
        )
    )
    out = []
    for i, (kind, quarter) in enumerate(picks):
        type_, props, topic = POOL[kind]
        out.append((at(f"e{i}", type_, quarter / 4, **props), topic))
    out.sort(key=lambda item: (item[0].at_ms, item[0].event_id))
    return out


def run(q: Qualifier, events: list[LeadEvent]) -> tuple[LeadState, list[StageChanged]]:
    return q.fold(events, "L1")


def assert_legal(changes: list[StageChanged]) -> None:
    stage = "lead"
    for n, change in enumerate(changes, start=1):
        assert change.sequence == n
        assert change.from_stage == stage
        assert (change.from_stage, change.to_stage) in LEGAL_TRANSITIONS
        stage = change.to_stage


def arrival(events: list[tuple[LeadEvent, int]]) -> list[LeadEvent]:
    """Events in the order they arrive, given each one's delay in ms."""
    order = sorted(range(len(events)), key=lambda i: (events[i][0].at_ms + events[i][1], i))
    return [events[i][0] for i in order]


common = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.mark.parametrize("name", sorted(QUALIFIERS))
@common
@given(data=st.data())
def test_shuffled_within_lateness_and_duplicated_ends_in_the_same_stage(
    name: str, data: st.DataObject
) -> None:
    q = QUALIFIERS[name]
    history = [e for e, _ in data.draw(histories())]
    ordered_state, ordered_changes = run(q, history)
    delays = data.draw(st.lists(delays_within, min_size=len(history), max_size=len(history)))
    copies = data.draw(st.lists(st.sampled_from(history), max_size=4))
    copy_delays = data.draw(
        st.lists(
            st.integers(0, 3 * LATENESS_H * HOUR_MS), min_size=len(copies), max_size=len(copies)
        )
    )
    shuffled = arrival(
        list(zip(history, delays, strict=True)) + list(zip(copies, copy_delays, strict=True))
    )
    state, changes = run(q, shuffled)
    assert_legal(changes)
    assert_legal(ordered_changes)
    assert state.stage == ordered_state.stage


@pytest.mark.parametrize("name", sorted(QUALIFIERS))
@common
@given(data=st.data())
def test_split_across_topics_ends_in_the_same_stage(name: str, data: st.DataObject) -> None:
    q = QUALIFIERS[name]
    history = data.draw(histories())
    lag = {t: data.draw(delays_within) for t in ("website", "email", "call")}
    ordered_state, _ = run(q, [e for e, _ in history])
    state, changes = run(q, arrival([(e, lag[topic]) for e, topic in history]))
    assert_legal(changes)
    assert state.stage == ordered_state.stage


@pytest.mark.parametrize("name", sorted(QUALIFIERS))
@common
@given(data=st.data())
def test_in_order_arrival_interleaved_with_other_leads_gives_the_same_changes(
    name: str, data: st.DataObject
) -> None:
    q = QUALIFIERS[name]
    leads = {
        lead: [
            replace(e, lead_id=lead, event_id=f"{lead}-{e.event_id}")
            for e, _ in data.draw(histories(8))
        ]
        for lead in ("A", "B", "C")
    }
    alone = {lead: q.fold(events, lead)[1] for lead, events in leads.items()}
    queues = {lead: list(events) for lead, events in leads.items()}
    mixed: list[LeadEvent] = []
    while any(queues.values()):
        lead = data.draw(st.sampled_from(sorted(k for k, v in queues.items() if v)))
        mixed.append(queues[lead].pop(0))
    together = replay_stream(q, mixed)
    for lead, changes in alone.items():
        assert together.changes.get(lead, []) == changes


# -- identity ------------------------------------------------------------------------------


def deliver_in_any_order(q: Qualifier, events: list[LeadEvent], data: st.DataObject) -> Replay:
    """Like the workers: hand-overs travel through the by-lead topic and arrive at any later
    point, interleaved with the other input."""
    replay = Replay(q)
    pending: list[tuple[str, LeadEvent]] = []
    inputs = list(events)
    while inputs or pending:
        take_pending = pending and (not inputs or data.draw(st.booleans()))
        if take_pending:
            key, event = pending.pop(data.draw(st.integers(0, len(pending) - 1)))
        else:
            event = inputs.pop(0)
            key = routing_key(event)
        outcome = q.process(replay.states.get(key) or LeadState(key=key), event)
        replay.states[key] = outcome.state
        replay.changes.setdefault(key, []).extend(outcome.changes)
        assert outcome.rejection is None
        pending.extend((e.lead_id or "", e) for e in outcome.forward)
    return replay


@common
@given(data=st.data())
def test_identify_before_between_or_after_anonymous_events_merges_the_history(
    data: st.DataObject,
) -> None:
    q = QUALIFIERS["default"]
    website = [i for i, (_, _, topic) in enumerate(POOL) if topic == "website"]
    n_anon = data.draw(st.integers(1, 6))
    anon = [
        replace(at(f"a{i}", POOL[k][0], i, lead=None, **POOL[k][1]), anonymous_id="v1")
        for i, k in enumerate(
            data.draw(st.lists(st.sampled_from(website), min_size=n_anon, max_size=n_anon))
        )
    ]
    known = [e for e, _ in data.draw(histories(6))]
    identify = replace(at("id", "identify", 0, lead="L1"), anonymous_id="v1")
    position = data.draw(st.integers(0, len(anon)))
    stream = [*anon[:position], identify, *anon[position:]]
    # The lead's own events interleave anywhere.
    for event in known:
        stream.insert(data.draw(st.integers(0, len(stream))), event)
    merged = deliver_in_any_order(q, stream, data)
    direct_events = [replace(e, lead_id="L1", anonymous_id=None) for e in [*anon, *known]]
    direct = replay_stream(q, sorted(direct_events, key=lambda e: (e.at_ms, e.event_id)))
    assert merged.states["L1"].stage == direct.states["L1"].stage
    assert_legal(merged.changes.get("L1", []))
    lead_hits = {h.event_id for hs in merged.states["L1"].hits.values() for h in hs}
    assert lead_hits == {h.event_id for hs in direct.states["L1"].hits.values() for h in hs}
    assert merged.states["anon:v1"].held == ()


# -- timers ----------------------------------------------------------------------------------


@common
@given(history=histories())
def test_a_demotion_happens_at_the_event_time_the_score_crosses_the_threshold(
    history: list[tuple[LeadEvent, str]],
) -> None:
    q = QUALIFIERS["timed"]
    lateness = q.rules.allowed_lateness
    below = q.rules.demotion.below if q.rules.demotion else 0
    state = LeadState(key="L1")
    for event, _ in history:  # every prefix of the history
        state, _ = q.apply(state, event)
        due = q.next_due_ms(state)
        if due is None:
            continue
        assert q.advance(state, due - 1) == (state, [])
        demoted, [change] = q.advance(state, due)
        crossing = due - lateness
        assert change.occurred_at == from_ms(crossing)
        assert (change.from_stage, change.to_stage, change.trigger_event_id) == (
            "sql",
            "lead",
            None,
        )
        assert q.scores(state, crossing)["engagement"] < below
        assert q.scores(state, crossing - 1)["engagement"] >= below
        assert demoted.stage == "lead"
        # A re-run gives the identical change (a re-emission after a fault is the same).
        assert q.advance(state, due + 10 * lateness)[1] == [change]
