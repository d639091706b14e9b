"""The pure qualification core: duplicates, disqualification, re-qualification, fit, scores."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from streams.core.events import LeadEvent
from streams.core.qualify import Qualifier
from streams.core.ruleset import load_ruleset, parse_ruleset, preset_texts
from streams.core.state import LeadState
from streams.worker.codec import decode_state, encode_state

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def ev(event_id: str, type_: str, minutes: int = 0, **props: Any) -> LeadEvent:
    return LeadEvent(
        event_id=event_id,
        type=type_,
        occurred_at=T0 + timedelta(minutes=minutes),
        lead_id="L1",
        properties=props,
    )


EBOOK = ev("e1", "content_download", 0, asset="a.pdf", asset_type="ebook")
DEMO = ev("e2", "form_submit", 10, form="demo_request")
CALL = ev("e3", "call_completed", 20, direction="outbound", duration_s=600, outcome="connected")
NO_BUDGET = ev(
    "e4",
    "call_completed",
    30,
    direction="outbound",
    duration_s=60,
    outcome="connected",
    disposition="no_budget",
)


def default() -> Qualifier:
    return Qualifier(load_ruleset("default"))


def test_repeated_event_id_changes_nothing() -> None:
    q = default()
    state, first = q.apply(LeadState(key="L1"), EBOOK)
    again, changes = q.apply(state, EBOOK)
    assert [c.to_stage for c in first] == ["sql"]
    assert changes == []
    assert again is state


def test_disqualified_lead_emits_nothing_more_without_requalification() -> None:
    q = default()
    state, changes = q.fold([EBOOK, NO_BUDGET, DEMO, CALL], key="L1")
    assert [c.to_stage for c in changes] == ["sql", "disqualified"]
    assert changes[-1].disqualification_reason == "no_budget"
    assert state.stage == "disqualified"


def test_disqualification_from_the_initial_stage() -> None:
    _, changes = default().fold([NO_BUDGET], key="L1")
    assert [(c.from_stage, c.to_stage) for c in changes] == [("lead", "disqualified")]


def test_requalification_counts_only_what_happened_after_disqualification() -> None:
    text = preset_texts()["default"].replace("requalify = false", "requalify = true")
    q = Qualifier(parse_ruleset(text))
    state, changes = q.fold([EBOOK, NO_BUDGET], key="L1")
    assert state.stage == "disqualified"
    # The e-book from before the disqualification does not re-qualify the lead ...
    state, changes = q.apply(state, ev("e9", "page_view", 40, url="/", category="blog"))
    assert changes == []
    # ... a new hand-raise after it does.
    state, changes = q.apply(state, ev("e10", "form_submit", 50, form="contact"))
    assert [(c.from_stage, c.to_stage) for c in changes] == [("disqualified", "sql")]
    assert changes[0].evidence == ("e10",)


def test_one_event_that_meets_both_stages_emits_sql_then_sqo() -> None:
    q = Qualifier(load_ruleset("startup"))
    _, changes = q.fold([DEMO], key="L1")
    assert [(c.from_stage, c.to_stage, c.sequence) for c in changes] == [
        ("lead", "sql", 1),
        ("sql", "sqo", 2),
    ]
    assert all(c.trigger_event_id == "e2" for c in changes)


def test_student_profile_blocks_sql_and_a_later_profile_update_counts() -> None:
    q = default()
    student = LeadEvent("p1", "profile", T0, "L1", properties={"seniority": "student"})
    state, changes = q.fold([student, EBOOK], key="L1")
    assert changes == []
    grown_up = LeadEvent(
        "p2", "profile", T0 + timedelta(days=1), "L1", properties={"seniority": "manager"}
    )
    state, changes = q.apply(state, grown_up)
    assert [c.to_stage for c in changes] == ["sql"]
    assert changes[0].scores["fit"] == 10


def test_an_older_profile_record_does_not_override_a_newer_one() -> None:
    q = default()
    new = LeadEvent("p2", "profile", T0 + timedelta(days=1), "L1", properties={"seniority": "vp"})
    old = LeadEvent("p1", "profile", T0, "L1", properties={"seniority": "student"})
    state, _ = q.fold([new, old], key="L1")
    assert state.profile["seniority"] == "vp"


def test_engagement_score_threshold_makes_an_sql_with_capped_points() -> None:
    q = default()
    views = [ev(f"v{i}", "page_view", i, url="/pricing", category="pricing") for i in range(10)]
    clicks = [ev(f"c{i}", "email_clicked", 20 + i) for i in range(10)]
    replies = [ev("r1", "email_replied", 40, intent="positive"), ev("r2", "email_replied", 41)]
    state, changes = q.fold([*views, *clicks, *replies], key="L1")
    assert q.scores(state)["engagement"] == 15 + 10 + 10  # capped views and clicks
    assert changes == []
    state, changes = q.apply(state, ev("n1", "newsletter_signup", 50))
    assert [c.to_stage for c in changes] == ["sql"]
    assert "engagement_score" in [r.rule for r in changes[0].reasons]


def test_reasons_are_worded_for_sales() -> None:
    _, changes = default().fold([EBOOK, DEMO, CALL], key="L1")
    sqo = changes[-1]
    assert [r.description for r in sqo.reasons] == [
        "Asked for a demo",
        "Had a conversation with a sales rep",
    ]
    assert sqo.evidence == ("e2", "e3")


def test_state_survives_the_table_codec() -> None:
    state, _ = default().fold([EBOOK, DEMO, NO_BUDGET], key="L1")
    assert decode_state(encode_state(state)) == state


def test_anonymous_visitor_is_held_but_never_staged() -> None:
    anon = LeadEvent(
        "a1", "form_submit", T0, None, "visitor-1", properties={"form": "demo_request"}
    )
    state, changes = default().apply(LeadState(key="anon:visitor-1"), anon)
    assert changes == []
    assert state.held == (anon,)
    assert decode_state(encode_state(state)) == state


_POOL = [
    EBOOK,
    DEMO,
    CALL,
    NO_BUDGET,
    ev("x1", "page_view", 1, url="/pricing", category="pricing"),
    ev("x2", "newsletter_signup", 2),
    ev("x3", "meeting_held", 3, kind="demo"),
    ev("x4", "email_unsubscribed", 4),
]


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.sampled_from(_POOL), max_size=12).flatmap(
        lambda evs: st.tuples(st.just(evs), st.permutations(evs))
    ),
    st.sampled_from(["default", "startup", "consultancy", "agency"]),
)
def test_final_stage_is_order_independent_and_duplicates_are_harmless(
    orders: tuple[list[LeadEvent], list[LeadEvent]], preset: str
) -> None:
    ordered, shuffled = orders
    q = Qualifier(load_ruleset(preset))
    state_a, changes_a = q.fold(ordered, key="L1")
    state_b, changes_b = q.fold([*shuffled, *shuffled], key="L1")
    assert state_a.stage == state_b.stage
    for changes in (changes_a, changes_b):
        stage = "lead"
        for seq, change in enumerate(changes, start=1):
            assert change.sequence == seq
            assert change.from_stage == stage
            assert (change.from_stage, change.to_stage) in {
                ("lead", "sql"),
                ("sql", "sqo"),
                ("lead", "disqualified"),
                ("sql", "disqualified"),
                ("sqo", "disqualified"),
            }
            stage = change.to_stage
