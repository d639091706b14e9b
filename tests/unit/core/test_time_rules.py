"""Windows of event time, allowed lateness, decay and demotion, negative signals, cool-down."""

from __future__ import annotations

from streams.core.events import from_ms
from streams.core.qualify import Qualifier
from streams.core.ruleset import load_ruleset
from streams.core.state import LeadState
from streams.worker.codec import decode_state, encode_state
from tests.support.timed_rules import DAY_MS, HOUR_MS, T0, at, pricing, timed

T0_MS = int(T0.timestamp() * 1000)


def stages(changes: list) -> list[tuple[str, str]]:  # type: ignore[type-arg]
    return [(c.from_stage, c.to_stage) for c in changes]


# -- windows -------------------------------------------------------------------------------


def test_three_pricing_views_within_seven_days_make_an_sql() -> None:
    q = timed()
    _state, changes = q.fold([pricing("p1", 0), pricing("p2", 50), pricing("p3", 160)], "L1")
    assert stages(changes) == [("lead", "sql")]
    assert changes[0].trigger_event_id == "p3"
    assert set(changes[0].evidence) == {"p1", "p2", "p3"}
    assert "3 times within 7 days" in changes[0].reasons[0].description


def test_views_spread_wider_than_the_window_do_not() -> None:
    q = timed()
    # 0 h, 100 h and 180 h: no 7-day (168 h) window holds all three.
    _, changes = q.fold([pricing("p1", 0), pricing("p2", 100), pricing("p3", 180)], "L1")
    assert changes == []


def test_two_conversations_within_thirty_days_make_an_sqo() -> None:
    q = timed()
    events = [
        at("d", "form_submit", 0, form="demo_request"),
        at("m1", "meeting_held", 24, kind="discovery"),
        at("m2", "meeting_held", 24 * 5, kind="demo"),
    ]
    _, changes = q.fold(events, "L1")
    assert stages(changes) == [("lead", "sql"), ("sql", "sqo")]
    assert changes[1].trigger_event_id == "m2"


# -- lateness ------------------------------------------------------------------------------


def test_an_event_within_the_allowed_lateness_counts_as_if_in_order() -> None:
    q = timed()
    # p3 at 160 h arrives first; p1 (0 h) is too late, p2 (150 h) is within 24 h.
    state, changes = q.fold([pricing("p3", 160), pricing("p2", 150)], "L1")
    assert changes == []
    outcome = q.process(state, pricing("p1", 140))
    assert [c.to_stage for c in outcome.changes] == ["sql"]
    assert outcome.rejection is None


def test_a_late_event_completes_a_window_that_ended_before_the_latest_event() -> None:
    q = timed()
    blog = at("x", "page_view", 190, url="/blog", category="blog")
    in_order = [pricing("p1", 0), pricing("p2", 100), pricing("p3", 167), blog]
    _, expected = q.fold(in_order, "L1")
    assert stages(expected) == [("lead", "sql")]
    # p3 arrives 23 h late, after the blog view moved the clock past p1's window.
    _state, changes = q.fold([pricing("p1", 0), pricing("p2", 100), blog, pricing("p3", 167)], "L1")
    assert stages(changes) == [("lead", "sql")]
    assert set(changes[0].evidence) == {"p1", "p2", "p3"}


def test_a_too_late_event_is_rejected_with_its_reason() -> None:
    q = timed()
    state, _ = q.fold([pricing("p3", 160)], "L1")
    outcome = q.process(state, pricing("p1", 100))
    assert outcome.rejection is not None
    assert outcome.rejection.code == "too_late"
    assert outcome.state is state


def test_a_too_late_event_can_be_accepted_without_re_evaluating_the_past() -> None:
    q = timed(('late_events = "dead_letter"', 'late_events = "accept"'))
    state, _ = q.fold([pricing("p1", 150), pricing("p2", 160)], "L1")
    outcome = q.process(state, pricing("p0", 100))
    assert outcome.rejection is None
    # Counted (the window ending now holds all three) ...
    assert [c.to_stage for c in outcome.changes] == ["sql"]
    # ... but judged as of now: the lead's clock stays where it was.
    assert outcome.state.clock_ms == T0_MS + 160 * HOUR_MS


def test_profile_facts_are_never_too_late() -> None:
    q = timed()
    state, _ = q.fold([pricing("p3", 500)], "L1")
    profile = at("f", "profile", 0, email_domain="rival.example")
    outcome = q.process(state, profile)
    assert outcome.rejection is None
    assert [c.disqualification_reason for c in outcome.changes] == ["competitor"]


# -- decay and demotion --------------------------------------------------------------------


def test_engagement_halves_every_half_life() -> None:
    q = timed()
    state, _ = q.fold([at("w", "webinar_attended", 0, webinar="x")], "L1")
    assert q.scores(state)["engagement"] == 25
    later, _ = q.fold(
        [at("w", "webinar_attended", 0, webinar="x"), at("b", "page_view", 168, url="/")], "L1"
    )
    assert q.scores(later)["engagement"] == 12.5


def qualified_by_engagement(q: Qualifier) -> LeadState:
    events = [
        at("w1", "webinar_attended", 0, webinar="a"),
        at("w2", "webinar_attended", 1, webinar="b"),
    ]
    state, changes = q.fold(events, "L1")
    assert stages(changes) == [("lead", "sql")]
    return state


def test_demotion_happens_when_the_decayed_score_crosses_the_threshold() -> None:
    q = timed()
    state = qualified_by_engagement(q)
    # 50 points at 1 h (49.9 with the first webinar's decay): below 20 after ~1.32 half-lives.
    due = q.next_due_ms(state)
    assert due is not None
    crossing = due - 24 * HOUR_MS
    score = 25 * 0.5 ** ((crossing - T0_MS) / (7 * DAY_MS)) + 25 * 0.5 ** (
        (crossing - T0_MS - HOUR_MS) / (7 * DAY_MS)
    )
    assert round(score, 6) < 20
    before = 25 * 0.5 ** ((crossing - 1 - T0_MS) / (7 * DAY_MS)) + 25 * 0.5 ** (
        (crossing - 1 - T0_MS - HOUR_MS) / (7 * DAY_MS)
    )
    assert round(before, 6) >= 20  # scores are kept to 6 decimals
    # Nothing is due a millisecond early; at the due time the demotion is emitted.
    same, none = q.advance(state, due - 1)
    assert none == []
    assert same is state
    demoted, changes = q.advance(state, due)
    assert stages(changes) == [("sql", "lead")]
    change = changes[0]
    assert change.trigger_event_id is None
    assert change.occurred_at == from_ms(crossing)
    assert change.reasons[0].rule == "demotion.engagement_decayed"
    assert "Went cold" in change.reasons[0].description
    assert change.scores["engagement"] < 20
    # Deterministic: the same state gives the same change (a re-emission is identical).
    assert q.advance(decode_state(encode_state(state)), due + 5 * DAY_MS)[1] == changes
    assert q.next_due_ms(demoted) is None


def test_activity_before_the_crossing_postpones_the_demotion() -> None:
    q = timed()
    state = qualified_by_engagement(q)
    due = q.next_due_ms(state)
    assert due is not None
    kept, changes = q.apply(state, at("w3", "webinar_attended", 150, webinar="c"))
    assert changes == []
    later = q.next_due_ms(kept)
    assert later is not None
    assert later > due


def test_a_lead_that_never_reached_the_threshold_in_sql_is_not_demoted() -> None:
    q = timed()
    state, changes = q.fold([at("d", "form_submit", 0, form="demo_request")], "L1")
    assert stages(changes) == [("lead", "sql")]
    # 30 points: armed; but a demo request alone below 20 would not be.
    assert q.next_due_ms(state) is not None
    q2 = timed(("points = 30", "points = 15"))
    state2, _ = q2.fold([at("d", "form_submit", 0, form="demo_request")], "L1")
    assert q2.next_due_ms(state2) is None


def test_an_event_after_the_due_time_demotes_first_then_counts() -> None:
    q = timed()
    state = qualified_by_engagement(q)
    due = q.next_due_ms(state)
    assert due is not None
    hours = (due - T0_MS) / HOUR_MS + 1
    _, changes = q.apply(state, at("d", "form_submit", hours, form="demo_request"))
    # Demoted at the crossing; the demo request after it qualifies the lead again.
    assert stages(changes) == [("sql", "lead"), ("lead", "sql")]
    assert changes[0].occurred_at < changes[1].occurred_at


def test_hysteresis_no_flapping_around_the_thresholds() -> None:
    q = timed()
    state = qualified_by_engagement(q)
    due = q.next_due_ms(state)
    assert due is not None
    state, changes = q.advance(state, due)
    assert stages(changes) == [("sql", "lead")]
    # Old activity no longer counts after the demotion; one more webinar (25) is not 40.
    hours = (due - T0_MS) / HOUR_MS + 2
    state, changes = q.apply(state, at("w3", "webinar_attended", hours, webinar="c"))
    assert changes == []
    state, changes = q.apply(state, at("w4", "webinar_attended", hours + 1, webinar="d"))
    assert stages(changes) == [("lead", "sql")]


# -- negative signals ----------------------------------------------------------------------


def test_hard_bounce_disqualifies_as_unreachable() -> None:
    q = Qualifier(load_ruleset("default"))
    _, changes = q.fold([at("b", "email_bounced", 0, bounce="hard")], "L1")
    assert [c.disqualification_reason for c in changes] == ["unreachable"]
    _, soft = q.fold([at("b", "email_bounced", 0, bounce="soft")], "L1")
    assert soft == []


def test_unsubscribe_and_spam_complaint_opt_out() -> None:
    q = Qualifier(load_ruleset("default"))
    for type_ in ("email_unsubscribed", "email_spam_complaint"):
        _, changes = q.fold([at("u", type_, 0)], "L1")
        assert [c.disqualification_reason for c in changes] == ["opted_out"]


def test_free_mail_lowers_fit_and_caps_engagement() -> None:
    q = timed()
    events = [
        at("f", "profile", 0, email_domain="mail.gmail.com"),
        at("w1", "webinar_attended", 1, webinar="a"),
        at("w2", "webinar_attended", 2, webinar="b"),
    ]
    state, changes = q.fold(events, "L1")
    assert changes == []  # 50 points, capped at 30: not 40
    assert q.scores(state) == {"engagement": 30, "fit": -10}


def test_an_identify_email_gives_the_email_domain() -> None:
    q = timed()
    events = [at("i", "identify", 0, email="Ann@Rival.Example"), pricing("p", 1)]
    state, changes = q.fold(events, "L1")
    assert state.profile["email_domain"] == "rival.example"
    assert [c.disqualification_reason for c in changes] == ["competitor"]


def test_negative_points_lower_engagement_and_do_not_decay() -> None:
    q = timed()
    events = [
        at("w", "webinar_attended", 0, webinar="a"),
        at(
            "n",
            "call_completed",
            0,
            direction="outbound",
            duration_s=60,
            outcome="connected",
            disposition="no_budget",
        ),
        at("x", "page_view", 168, url="/"),
    ]
    state, _ = q.fold(events, "L1")
    assert q.scores(state)["engagement"] == 12.5 - 15


# -- re-qualification after a cool-down ----------------------------------------------------


def test_a_disqualified_lead_requalifies_only_with_activity_after_the_cooldown() -> None:
    q = timed()
    events = [at("d", "form_submit", 0, form="demo_request"), at("u", "email_unsubscribed", 1)]
    state, changes = q.fold(events, "L1")
    assert stages(changes) == [("lead", "sql"), ("sql", "disqualified")]
    state, changes = q.apply(state, at("d2", "form_submit", 24 * 10, form="demo_request"))
    assert changes == []
    state, changes = q.apply(state, at("d3", "form_submit", 24 * 32, form="demo_request"))
    assert stages(changes) == [("disqualified", "sql")]


def test_a_profile_disqualifier_that_still_holds_blocks_requalification() -> None:
    q = timed()
    events = [
        at("f", "profile", 0, email_domain="rival.example"),
        at("d", "form_submit", 24 * 40, form="demo_request"),
    ]
    state, changes = q.fold(events, "L1")
    assert stages(changes) == [("lead", "disqualified")]
    assert state.stage == "disqualified"


# -- compact state -------------------------------------------------------------------------


def test_hits_outside_every_window_and_old_ids_are_pruned() -> None:
    q = timed(("points = 5\n", "points = 0\n"))
    events = [pricing(f"p{i}", i * 24 * 10) for i in range(30)]
    state, _ = q.fold(events, "L1")
    # Window 7 d + lateness 1 d: at most one earlier view is kept besides the last.
    assert len(state.hits["pricing_view"]) <= 2
    assert len(state.seen) <= 2
    assert decode_state(encode_state(state)) == state
