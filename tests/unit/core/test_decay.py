"""The demotion time: when a qualified lead's decaying engagement falls below the threshold."""

from __future__ import annotations

from streams.core.decay import demotion_ms
from streams.core.evaluate import View
from streams.core.state import Hit, LeadState
from tests.support.timed_rules import DAY_MS, HOUR_MS, timed

RULES = timed().rules  # demotion below 20, half-life 7 days


def sql_lead(*hits: tuple[str, int, float]) -> LeadState:
    """A lead in sql since event time 0 with (event id, event time, points) webinar hits."""
    webinar = tuple(Hit(event_id, at_ms, points) for event_id, at_ms, points in hits)
    return LeadState(key="L1", stage="sql", hits={"webinar": webinar}, stage_at_ms=0)


def engagement(lead: LeadState, at_ms: int) -> float:
    return View(RULES, lead, at_ms).engagement()[0]


def test_the_demotion_time_is_the_first_millisecond_below_the_threshold() -> None:
    lead = sql_lead(("w1", 0, 25), ("w2", HOUR_MS, 25))
    due = demotion_ms(RULES, lead)
    assert due is not None
    assert engagement(lead, due) < 20 <= engagement(lead, due - 1)
    assert 9 * DAY_MS < due < 10 * DAY_MS  # ~1.32 half-lives


def test_a_lead_that_never_reached_the_threshold_in_sql_is_not_demoted() -> None:
    assert demotion_ms(RULES, sql_lead(("w1", 0, 15))) is None


def test_only_a_lead_in_sql_under_rules_with_demotion_is_demoted() -> None:
    lead = sql_lead(("w1", 0, 25), ("w2", HOUR_MS, 25))
    assert demotion_ms(RULES, LeadState(key="L1", stage="sqo", hits=lead.hits)) is None
    no_demotion = timed(('[demotion]\nbelow = 20\ndescription = "Went cold"\n', "")).rules
    assert demotion_ms(no_demotion, lead) is None


def test_a_search_until_a_time_finds_the_demotion_only_when_it_comes_by_then() -> None:
    lead = sql_lead(("w1", 0, 25), ("w2", HOUR_MS, 25), ("w3", 12 * DAY_MS, 30))
    due = demotion_ms(RULES, lead)
    assert due is not None
    for until in (0, HOUR_MS, due - 1, due, due + 1, 11 * DAY_MS, 13 * DAY_MS, 40 * DAY_MS):
        assert demotion_ms(RULES, lead, until) == (due if due <= until else None)
