"""Conditions and scores at one moment: property tests, signal windows, decay, reasons."""

from __future__ import annotations

from pydantic import TypeAdapter

from streams.core.evaluate import Judged, Met, View, matches, profile_only, required_signals
from streams.core.ruleset import AnyCondition, Condition, Match, NotCondition, SignalCondition
from streams.core.state import Hit, LeadState
from tests.support.timed_rules import DAY_MS, HOUR_MS, timed

RULES = timed().rules


def state(*hits: tuple[str, str, int, float]) -> LeadState:
    """A lead with the given (signal, event id, event time, points) hits."""
    by_signal: dict[str, tuple[Hit, ...]] = {}
    for signal, event_id, at_ms, points in hits:
        by_signal[signal] = (*by_signal.get(signal, ()), Hit(event_id, at_ms, points))
    return LeadState(key="L1", hits=by_signal)


def test_matches_tests_every_property_of_a_match() -> None:
    match = Match.model_validate(
        {"type": "call_completed", "disposition": ["interested", "demo_scheduled"],
         "duration_s": {"gte": 30}}
    )  # fmt: skip
    assert matches(match, {"disposition": "interested", "duration_s": 45})
    assert matches(match, {"disposition": ["wrong_contact", "demo_scheduled"], "duration_s": 30})
    assert not matches(match, {"disposition": "no_budget", "duration_s": 45})
    assert not matches(match, {"disposition": "interested", "duration_s": 10})
    assert not matches(match, {"disposition": "interested"})  # a missing property never matches
    assert not matches(match, {"disposition": "interested", "duration_s": True})  # not a number


def test_a_signal_condition_counts_hits_within_its_window() -> None:
    lead = state(
        ("pricing_view", "p1", 0, 5),
        ("pricing_view", "p2", HOUR_MS, 5),
        ("pricing_view", "p3", 8 * DAY_MS, 5),
    )
    cond = SignalCondition(signal="pricing_view", min_count=2, within=7 * DAY_MS)
    met = View(RULES, lead, 2 * HOUR_MS).holds(cond)
    assert met is not None
    assert [h.event_id for h in met.evidence] == ["p1", "p2"]
    assert met.reasons[0].rule == "pricing_view"
    assert met.reasons[0].description == "Viewed the pricing page (2 times within 7 days)"
    assert View(RULES, lead, 8 * DAY_MS).holds(cond) is None  # p3 alone in its window


def test_engagement_halves_every_half_life_and_penalties_do_not_decay() -> None:
    lead = state(("webinar", "w1", 0, 25), ("no_budget", "c1", 0, -15))
    assert View(RULES, lead, 0).engagement()[0] == 10
    assert View(RULES, lead, 7 * DAY_MS).engagement()[0] == 12.5 - 15
    assert [h.event_id for h in View(RULES, lead, 0).engagement()[1]] == ["w1"]


def test_hits_of_a_signal_the_ruleset_no_longer_has_count_for_nothing() -> None:
    # A signal removed (or renamed) from the ruleset of a running deployment.
    lead = state(("webinar", "w1", 0, 25), ("retired_signal", "r1", 0, 40))
    score, evidence = View(RULES, lead, 0).engagement()
    assert score == 25
    assert [h.event_id for h in evidence] == ["w1"]


def test_a_not_condition_holds_with_a_reason_naming_what_does_not() -> None:
    cond = NotCondition.model_validate({"not": {"signal": "demo"}})
    met = View(RULES, state(), None).holds(cond)
    assert isinstance(met, Met)
    assert [r.rule for r in met.reasons] == ["not.demo"]
    assert met.evidence == ()
    assert View(RULES, state(("demo", "d1", 0, 30)), None).holds(cond) is None


def test_required_signals_are_those_without_a_hit_of_which_a_condition_cannot_hold() -> None:
    def need(data: dict[str, object]) -> frozenset[str] | None:
        return required_signals(TypeAdapter(Condition).validate_python(data))

    assert need({"signal": "demo"}) == frozenset({"demo"})
    assert need({"any": [{"signal": "demo"}, {"signal": "webinar"}]}) == frozenset(
        {"demo", "webinar"}
    )
    assert need({"all": [{"score": "fit", "gte": 1}, {"signal": "demo"}]}) == frozenset({"demo"})
    # Each of these may hold for a lead without hits.
    assert need({"any": [{"signal": "demo"}, {"score": "engagement", "lte": 5}]}) is None
    assert need({"not": {"signal": "demo"}}) is None
    assert need({"profile": "seniority", "equals": "vp"}) is None


def test_a_condition_holds_for_no_lead_without_a_hit_of_its_required_signals() -> None:
    cond = AnyCondition.model_validate(
        {
            "any": [
                {"signal": "demo"},
                {"all": [{"signal": "webinar"}, {"not": {"signal": "no_budget"}}]},
            ]
        }
    )
    assert required_signals(cond) == frozenset({"demo", "webinar"})
    assert View(RULES, state(("pricing_view", "p1", 0, 5)), None).holds(cond) is None
    assert View(RULES, state(("webinar", "w1", 0, 25)), None).holds(cond) is not None


def test_a_condition_is_profile_only_when_nothing_in_it_reads_hits_or_scores() -> None:
    def only(data: dict[str, object]) -> bool:
        return profile_only(TypeAdapter(Condition).validate_python(data))

    seniority: dict[str, object] = {"profile": "seniority", "equals": "vp"}
    assert only(seniority)
    assert only({"not": {"any": [seniority, {"all": [seniority]}]}})
    assert not only({"all": [seniority, {"signal": "demo"}]})
    assert not only({"any": [seniority, {"score": "fit", "gte": 1}]})


def test_judged_finds_the_latest_moment_a_condition_holds() -> None:
    lead = state(("pricing_view", "p1", 0, 5), ("pricing_view", "p2", HOUR_MS, 5))
    twice = SignalCondition(signal="pricing_view", min_count=2, within=DAY_MS)
    views = [View(RULES, lead, t) for t in (3 * DAY_MS, 2 * HOUR_MS, HOUR_MS, 0)]
    found = Judged.of(twice).latest(lead, views)
    assert found is not None
    met, view = found
    assert view.at_ms == 2 * HOUR_MS
    assert [h.event_id for h in met.evidence] == ["p1", "p2"]
    assert Judged.of(SignalCondition(signal="demo")).latest(lead, views) is None
