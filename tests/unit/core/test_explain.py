"""What a lead still needs for its next stage, judged by the same conditions that decide."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from streams.core.evaluate import View
from streams.core.events import LeadEvent, Reason
from streams.core.explain import explain_next, next_stage
from streams.core.qualify import Qualifier
from streams.core.replay import replay_stream
from streams.core.ruleset import PRESETS, load_ruleset
from streams.core.state import Hit, LeadState
from streams.tools.expected import valid_events
from tests.support.traffic import sample

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def ev(event_id: str, type_: str, minutes: int = 0, **props: Any) -> LeadEvent:
    return LeadEvent(
        event_id=event_id,
        type=type_,
        occurred_at=T0 + timedelta(minutes=minutes),
        lead_id="L1",
        properties=props,
    )


PAGE = ev("e0", "page_view", 0, url="/blog/x", category="blog")
EBOOK = ev("e1", "content_download", 1, asset="a.pdf", asset_type="ebook")
DEMO = ev("e2", "form_submit", 10, form="demo_request")
CALL = ev("e3", "call_completed", 20, direction="outbound", duration_s=600, outcome="connected")
NO_BUDGET = ev(
    "e4", "call_completed", 30, direction="outbound", duration_s=60, outcome="connected",
    disposition="no_budget",
)  # fmt: skip
STUDENT = ev("p1", "profile", 2, seniority="student")


def fold(preset: str, *events: LeadEvent) -> LeadState:
    return Qualifier(load_ruleset(preset)).fold(events, key="L1")[0]


def rules_of(reasons: tuple[Any, ...]) -> list[str]:
    return [r.rule for r in reasons]


def test_the_next_stage_follows_the_stage_machine() -> None:
    default, consultancy = load_ruleset("default"), load_ruleset("consultancy")
    assert next_stage(default, "lead") == "sql"
    assert next_stage(default, "sql") == "sqo"
    assert next_stage(default, "sqo") is None
    assert next_stage(default, "disqualified") is None  # requalify = false
    assert next_stage(consultancy, "disqualified") == "sql"  # requalify = true


def test_a_new_lead_misses_the_interest_of_an_sql_and_is_not_a_student() -> None:
    step = explain_next(load_ruleset("default"), fold("default", PAGE))
    assert step is not None
    assert step.stage == "sql"
    assert [(r.rule, r.description) for r in step.met] == [
        ("not.profile.seniority", "Not a student")
    ]
    [missing] = step.missing
    assert missing.rule.startswith("any(ebook_download,")
    assert missing.description.startswith("One of: Downloaded an e-book; ")
    assert missing.description.endswith("Engagement score at least 40 (now 0)")


def test_a_student_misses_both_criteria() -> None:
    step = explain_next(load_ruleset("default"), fold("default", STUDENT, PAGE))
    assert step is not None
    assert step.met == ()
    assert rules_of(step.missing)[1] == "not.profile.seniority"
    assert step.missing[1].description == "Not a student"


def test_an_sql_sees_what_holds_of_the_sqo_criteria_and_what_is_missing() -> None:
    rules = load_ruleset("default")
    sql = fold("default", EBOOK)
    assert sql.stage == "sql"
    step = explain_next(rules, sql)
    assert step is not None
    assert (step.stage, step.met) == ("sqo", ())
    [missing] = step.missing
    assert missing.description == (
        "One of: Asked for a demo and Had a conversation with a sales rep;"
        " A sales rep accepted the lead as an opportunity"
    )
    after_demo = explain_next(rules, fold("default", EBOOK, DEMO))
    assert after_demo is not None
    assert [(r.rule, r.description) for r in after_demo.met] == [
        ("demo_request", "Asked for a demo")
    ]
    assert after_demo.missing == step.missing


def test_an_sqo_and_a_disqualified_lead_without_requalification_have_no_next_stage() -> None:
    rules = load_ruleset("default")
    assert explain_next(rules, fold("default", EBOOK, DEMO, CALL)) is None
    assert explain_next(rules, fold("default", EBOOK, NO_BUDGET)) is None


def test_a_disqualified_lead_that_may_requalify_misses_the_sql_criteria() -> None:
    rules = load_ruleset("consultancy")
    state = fold("consultancy", EBOOK, NO_BUDGET)
    assert state.stage == "disqualified"
    step = explain_next(rules, state)
    assert step is not None
    assert step.stage == "sql"
    assert step.missing  # the cooldown hides the earlier hits: everything is missing again
    # A disqualifier that still holds (no cooldown since) is missing too: it must not hold.
    hit = Hit("e9", NO_BUDGET.at_ms, 0.0)
    still = explain_next(rules, replace(state, epoch_start_ms=None, hits={"no_budget": (hit,)}))
    assert still is not None
    assert still.missing[-1] == Reason("disqualify.no_budget", "No longer: Disqualified: no budget")


def _lead_states(preset: str) -> dict[str, LeadState]:
    events, _ = valid_events((e.kind, e.value) for e in sample())
    return replay_stream(Qualifier(load_ruleset(preset)), events).leads()


@pytest.mark.parametrize("preset", PRESETS)
def test_missing_is_empty_exactly_when_the_next_stage_criteria_hold(preset: str) -> None:
    """On simulated leads: the explanation agrees with the conditions that decide, and a
    lead that has processed its events never has a next stage whose criteria all hold."""
    rules = load_ruleset(preset)
    for state in _lead_states(preset).values():
        step = explain_next(rules, state)
        if step is None:
            continue
        view = View(rules, state, state.clock_ms if rules.time_dependent else None)
        holds = view.holds(rules.stages[step.stage].criteria) is not None
        if state.stage != "disqualified":
            assert holds == (not step.missing), state.key
        assert step.missing, state.key  # else the qualifier would have moved it on
