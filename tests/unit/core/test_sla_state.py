"""SLA clocks in the lead state: started by stage changes, stopped by work or by leaving the
stage, and the warning and breach events that timer ticks (and stops) emit."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from streams.core.events import LeadEvent, to_ms
from streams.core.qualify import Decision, Qualifier
from streams.core.ruleset import parse_ruleset
from streams.core.sla_state import next_sla_ms, on_tick
from streams.core.state import LeadState, SlaClock
from tests.support.timed_rules import timed

T0 = datetime(2026, 6, 2, 10, 0, tzinfo=UTC)  # a Tuesday
H = timedelta(hours=1)
M = timedelta(minutes=1)

RULES = """
name = "sla"
version = "1"

[signals.demo]
description = "Asked for a demo"
match = [{ type = "form_submit", form = "demo_request" }]

[signals.meeting]
description = "Met sales"
match = [{ type = "meeting_held" }]

[signals.opted_out]
description = "Unsubscribed"
match = [{ type = "email_unsubscribed" }]

[stages.sql]
description = "Asked for a demo, or met sales"
criteria = { any = [{ signal = "demo" }, { signal = "meeting" }] }

[stages.sqo]
description = "Met sales"
criteria = { signal = "meeting" }

[[disqualify]]
reason = "opted_out"
description = "Opted out"
when = { signal = "opted_out" }

[sla.sql]
within = "4h"
warn_before = "1h"
"""

SQO = """
[sla.sqo]
within = "2d"
worked_by = ["meeting_held"]
"""

OFFICE = """
[sla.sql]
within = "4h"
warn_before = "1h"

[sla.sql.business_hours]
days = ["mon", "tue", "wed", "thu", "fri"]
start = "09:00"
end = "17:00"
timezone = "Europe/Amsterdam"
"""


def qualifier(extra: str = "", sla: str | None = None, **options: Any) -> Qualifier:
    text = RULES if sla is None else RULES.split("[sla.sql]")[0] + sla
    return Qualifier(parse_ruleset(text + extra, "sla"), **options)


def ms(at: datetime) -> int:
    return to_ms(at)


def event(event_id: str, type_: str, at: datetime, **props: Any) -> LeadEvent:
    return LeadEvent(event_id=event_id, type=type_, occurred_at=at, lead_id="L1", properties=props)


def demo(at: datetime = T0) -> LeadEvent:
    return event("demo", "form_submit", at, form="demo_request")


def call(event_id: str, at: datetime) -> LeadEvent:
    return event(event_id, "call_completed", at, direction="outbound", duration_s=60)


def meeting(event_id: str, at: datetime) -> LeadEvent:
    return event(event_id, "meeting_held", at, kind="demo")


def sql_lead(q: Qualifier, seen: datetime | None = None) -> LeadState:
    decision = q.process(LeadState(key="L1"), demo(), None if seen is None else ms(seen))
    assert [c.to_stage for c in decision.changes] == ["sql"]
    assert decision.sla == ()
    return decision.state


def kinds(decision: Decision) -> list[str]:
    return [e.kind for e in decision.sla]


def test_entering_sql_starts_the_clock_and_the_timer_is_due_at_the_warning() -> None:
    q = qualifier()
    seen = T0 + 2 * M
    state = sql_lead(q, seen)
    assert state.sla == SlaClock(sequence=1, stage="sql", since_ms=ms(T0), seen_ms=ms(seen))
    assert q.next_due_ms(state) == ms(T0 + 3 * H)
    assert q.timed


def test_next_due_ms_remembers_a_clock_by_lead_and_clock_only(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    q = qualifier()
    state = sql_lead(q)
    first = q.next_due_ms(state)
    # The same lead and clock in another state (an event recorded): the same due time.
    assert q.next_due_ms(replace(state, clock_ms=ms(T0 + H))) == first
    # Another lead with an equal clock, and the lead's clock once warned, are their own.
    assert q.next_due_ms(replace(state, key="L2")) == first
    assert state.sla is not None
    warned = replace(state, sla=replace(state.sla, emitted=("warning",)))
    assert q.next_due_ms(warned) == ms(T0 + 4 * H)
    worked_out: list[str] = []

    def counted(sla: Any, lead: LeadState) -> int | None:
        worked_out.append(lead.key)
        return next_sla_ms(sla, lead)

    monkeypatch.setattr("streams.core.qualify.next_sla_ms", counted)
    assert q.next_due_ms(replace(state, stage_at_ms=ms(T0 + M))) == first
    assert worked_out == []  # remembered
    monkeypatch.setattr("streams.core.qualify.SLA_DUE_MEMO", 2)
    for n in range(3):
        q.next_due_ms(replace(state, key=f"M{n}"))
    assert q.next_due_ms(state) == first  # bounded: the oldest was forgotten
    assert worked_out == ["M0", "M1", "M2", "L1"]


def test_ticks_emit_the_warning_then_the_breach_once_each() -> None:
    q = qualifier()
    state = sql_lead(q)
    early = q.tick(state, ms(T0 + 3 * H - M))
    assert early.sla == ()
    assert early.state is state  # nothing to store
    warned = q.tick(state, ms(T0 + 3 * H))
    assert kinds(warned) == ["warning"]
    assert warned.state.sla is not None
    assert warned.state.sla.emitted == ("warning",)
    assert q.next_due_ms(warned.state) == ms(T0 + 4 * H)
    assert q.tick(warned.state, ms(T0 + 4 * H - M)).sla == ()
    breached = q.tick(warned.state, ms(T0 + 4 * H))
    assert kinds(breached) == ["breached"]
    assert breached.state.sla is None  # nothing more can come
    assert q.next_due_ms(breached.state) is None
    assert breached.changes == ()
    [event_] = breached.sla
    assert event_.sla_event_id == "L1:1:breached"
    assert (event_.stage, event_.stage_since, event_.due_at) == ("sql", T0, T0 + 4 * H)
    assert event_.occurred_at == T0 + 4 * H
    assert warned.sla[0].occurred_at == T0 + 3 * H
    assert event_.policy == {"within": "4h", "business_hours": None}


def test_a_late_tick_emits_both_in_order() -> None:
    q = qualifier()
    decision = q.tick(sql_lead(q), ms(T0 + 9 * H))
    assert [e.sla_event_id for e in decision.sla] == ["L1:1:warning", "L1:1:breached"]


def test_a_tick_is_deterministic() -> None:
    q = qualifier()
    state = sql_lead(q)
    assert q.tick(state, ms(T0 + 5 * H)) == q.tick(state, ms(T0 + 5 * H))


def test_a_worked_event_stops_the_clock() -> None:
    q = qualifier()
    decision = q.process(sql_lead(q), call("c1", T0 + 2 * H))
    assert decision.sla == ()
    assert decision.state.sla is None
    assert q.next_due_ms(decision.state) is None


def test_a_worked_event_emits_what_came_due_before_it_when_no_tick_did() -> None:
    q = qualifier()
    after_warning = q.process(sql_lead(q), call("c1", T0 + 3 * H + 30 * M))
    assert kinds(after_warning) == ["warning"]
    assert after_warning.state.sla is None
    late = q.process(sql_lead(q), call("c1", T0 + 5 * H))
    assert kinds(late) == ["warning", "breached"]
    # Worked exactly at the due instant is in time.
    assert kinds(q.process(sql_lead(q), call("c1", T0 + 4 * H))) == ["warning"]


def test_what_a_tick_emitted_is_not_emitted_again_when_the_clock_stops() -> None:
    q = qualifier()
    warned = q.tick(sql_lead(q), ms(T0 + 3 * H)).state
    assert kinds(q.process(warned, call("c1", T0 + 3 * H + M))) == []
    assert kinds(q.process(warned, call("c1", T0 + 5 * H))) == ["breached"]


def test_events_that_are_not_worked_by_and_earlier_work_do_not_stop_it() -> None:
    q = qualifier()
    state = sql_lead(q)
    page = event("p1", "page_view", T0 + H, url="/pricing")
    assert q.process(state, page).state.sla == state.sla
    # A call dated before the lead entered the stage (read late) did not work it.
    early = q.process(state, call("c0", T0 - 30 * M))
    assert early.state.sla == state.sla
    assert early.sla == ()


def test_leaving_the_stage_stops_the_clock() -> None:
    q = qualifier()
    opt_out = event("u1", "email_unsubscribed", T0 + 2 * H)
    decision = q.process(sql_lead(q), opt_out)
    assert [c.to_stage for c in decision.changes] == ["disqualified"]
    assert decision.sla == ()
    assert decision.state.sla is None
    later = q.process(sql_lead(q), replace(opt_out, occurred_at=T0 + 3 * H + M))
    assert kinds(later) == ["warning"]  # it came due before the lead left


def test_sql_then_sqo_in_one_event_stops_the_sql_clock_and_starts_the_sqo_one() -> None:
    decision = qualifier(SQO).process(LeadState(key="L1"), meeting("m1", T0))
    assert [c.to_stage for c in decision.changes] == ["sql", "sqo"]
    assert decision.sla == ()
    assert decision.state.sla == SlaClock(2, "sqo", ms(T0), ms(T0))
    # Without an [sla.sqo] the lead has no clock in sqo.
    assert qualifier().process(LeadState(key="L1"), meeting("m1", T0)).state.sla is None


def test_the_event_that_enters_a_stage_does_not_work_it() -> None:
    q = qualifier(SQO)
    state = sql_lead(q)
    # The meeting works the sql stage (in time) and makes the lead an sqo ...
    entered = q.process(state, meeting("m1", T0 + H))
    assert [c.to_stage for c in entered.changes] == ["sqo"]
    assert entered.sla == ()
    assert entered.state.sla == SlaClock(2, "sqo", ms(T0 + H), ms(T0 + H))
    # ... whose clock (2 days, no warning) only a later meeting stops.
    assert q.next_due_ms(entered.state) == ms(T0 + H + 48 * H)
    assert q.process(entered.state, call("c1", T0 + 2 * H)).state.sla is not None
    assert q.process(entered.state, meeting("m2", T0 + 2 * H)).state.sla is None
    [breach] = q.tick(entered.state, ms(T0 + 50 * H)).sla
    assert (breach.sla_event_id, breach.stage) == ("L1:2:breached", "sqo")
    assert breach.policy == {"within": "2d", "business_hours": None}


def test_a_backlog_entry_gets_a_single_breach() -> None:
    q = qualifier()
    seen = T0 + 24 * H  # the worker read the entry a day late
    state = sql_lead(q, seen)
    # Its breach is due in the past: the timer ticks it as soon as its clock gets there.
    assert q.next_due_ms(state) == ms(T0 + 4 * H)
    assert q.tick(state, ms(T0 + 4 * H - M)).sla == ()
    decision = q.tick(state, ms(T0 + 4 * H))
    assert kinds(decision) == ["breached"]
    assert decision.state.sla is None
    # Worked in time (its call comes later in the backlog): nothing.
    assert q.process(state, call("c1", T0 + H)).sla == ()


def test_business_hours_come_from_the_policy() -> None:
    q = qualifier(sla=OFFICE)
    friday = datetime(2026, 6, 5, 13, 0, tzinfo=UTC)  # 15:00 in Amsterdam
    state = q.process(LeadState(key="L1"), demo(friday)).state
    monday_10 = datetime(2026, 6, 8, 8, 0, tzinfo=UTC)  # 10:00 in Amsterdam
    assert q.next_due_ms(state) == ms(monday_10)
    assert q.tick(state, ms(friday + 60 * H)).sla == ()  # the weekend does not count
    warning, breach = q.tick(state, ms(monday_10 + H)).sla
    assert (warning.occurred_at, breach.due_at) == (monday_10, monday_10 + H)
    assert breach.policy["business_hours"] == {
        "days": ["mon", "tue", "wed", "thu", "fri"],
        "start": "09:00",
        "end": "17:00",
        "timezone": "Europe/Amsterdam",
    }


@pytest.mark.parametrize("sla", [None, OFFICE])
def test_a_stage_entered_at_an_end_of_the_calendar_never_comes_due(sla: str | None) -> None:
    q = qualifier(sla=sla)
    dates = [
        datetime(9999, 12, 31, 22, 0, tzinfo=UTC),
        datetime(1, 1, 1, 0, 0, tzinfo=UTC),
        datetime(1, 1, 1, 0, 0, tzinfo=timezone(timedelta(hours=14))),  # before year 1 in UTC
    ]
    for at in dates:
        state = q.process(LeadState(key="L1"), demo(at)).state
        assert state.stage == "sql"
        due = q.next_due_ms(state)  # raises nothing (a bad date must not stop a worker)
        q.tick(state, ms(T0))
        q.process(state, call("c1", at))
        if at.year == 9999:  # its deadline lies beyond the calendar: no timer, no event
            assert due is None
            assert q.tick(state, ms(at + 119 * M)).sla == ()


def test_requalifying_starts_a_new_clock_with_its_own_sequence() -> None:
    rules = RULES.replace('version = "1"', 'version = "1"\nrequalify = true')
    q = Qualifier(parse_ruleset(rules, "sla"))
    state = sql_lead(q)
    state = q.process(state, event("u1", "email_unsubscribed", T0 + H)).state
    assert state.sla is None
    again = q.process(state, replace(demo(T0 + 2 * H), event_id="demo2"))
    assert [c.to_stage for c in again.changes] == ["sql"]
    assert again.state.sla == SlaClock(3, "sql", ms(T0 + 2 * H), ms(T0 + 2 * H))
    assert [e.sla_event_id for e in q.tick(again.state, ms(T0 + 9 * H)).sla] == [
        "L1:3:warning",
        "L1:3:breached",
    ]


def test_a_demotion_leaves_sql_and_stops_its_clock() -> None:
    q = timed(("[demotion]", '[sla.sql]\nwithin = "30d"\n\n[demotion]'))
    webinars = [
        LeadEvent(f"w{i}", "webinar_attended", T0 + i * H, "L1", properties={"webinar": str(i)})
        for i in range(2)
    ]
    state, changes = q.fold(webinars, "L1")
    assert [c.to_stage for c in changes] == ["sql"]
    assert state.sla is not None
    due = q.next_due_ms(state)
    assert due is not None
    assert due < state.sla.since_ms + 30 * 24 * 3_600_000  # the demotion comes first
    decision = q.tick(state, due)
    assert [c.to_stage for c in decision.changes] == ["lead"]
    assert decision.sla == ()
    assert decision.state.sla is None
    assert q.next_due_ms(decision.state) is None


def test_without_sla_there_is_no_clock() -> None:
    no_sla = Qualifier(parse_ruleset(RULES.split("[sla.sql]")[0], "sla"))
    assert no_sla.process(LeadState(key="L1"), demo()).state.sla is None
    assert not no_sla.timed
    shadow = Qualifier(qualifier().rules, sla=False)  # how a shadow ruleset runs
    state = shadow.process(LeadState(key="L1"), demo()).state
    assert state.sla is None
    assert shadow.next_due_ms(state) is None
    assert not shadow.timed


def test_a_clock_whose_policy_is_gone_is_dropped() -> None:
    """A ruleset changed under a running clock: its stage has no SLA any more."""
    q = qualifier()  # has no [sla.sqo]
    state = sql_lead(q)
    assert state.sla is not None
    in_sqo = replace(state, sla=replace(state.sla, stage="sqo"))
    assert q.next_due_ms(in_sqo) is None
    decision = q.tick(in_sqo, ms(T0 + 9 * H))
    assert decision.sla == ()
    assert decision.state.sla is None
    assert next_sla_ms(None, state) is None
    assert on_tick(None, state, ms(T0 + 9 * H)) == (replace(state, sla=None), [])


def test_the_clock_round_trips_through_the_stored_form() -> None:
    q = qualifier()
    state = q.tick(sql_lead(q, T0 + M), ms(T0 + 3 * H)).state
    assert state.sla == SlaClock(1, "sql", ms(T0), ms(T0 + M), ("warning",))
    stored = state.to_dict()
    assert stored["sla"] == [1, "sql", ms(T0), ms(T0 + M), ["warning"]]
    assert LeadState.from_dict(stored) == state
    # States without a clock do not store one, and states stored before clocks load.
    bare = replace(state, sla=None).to_dict()
    assert "sla" not in bare
    assert LeadState.from_dict(bare).sla is None


@given(st.integers(min_value=0, max_value=600), st.integers(min_value=0, max_value=600))
def test_ticks_in_any_steps_emit_the_same_events(a: int, b: int) -> None:
    """However the timer splits the time into ticks, each event comes once, in order."""
    q = qualifier()
    state = sql_lead(q)
    first, second = sorted((a, b))
    one = q.tick(state, ms(T0 + second * M))
    split = q.tick(state, ms(T0 + first * M))
    rest = q.tick(split.state, ms(T0 + second * M))
    assert [*split.sla, *rest.sla] == list(one.sla)
    assert rest.state == one.state
