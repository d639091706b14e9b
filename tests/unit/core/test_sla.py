"""The SLA policy model and the SLA clock: which warning and breach events are due when."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from streams.core.events import StageChanged
from streams.core.ruleset import PRESETS, load_ruleset
from streams.core.sla import SlaEvent, SlaPolicy, next_sla_at, sla_events

H = timedelta(hours=1)
M = timedelta(minutes=1)
AMS = ZoneInfo("Europe/Amsterdam")
T0 = datetime(2026, 6, 2, 10, 0, tzinfo=UTC)  # a Tuesday

POLICY = SlaPolicy.model_validate({"within": "4h", "warn_before": "1h"})
OFFICE_POLICY = SlaPolicy.model_validate(
    {
        "within": "4h",
        "warn_before": "1h",
        "business_hours": {
            "days": ["mon", "tue", "wed", "thu", "fri"],
            "start": "09:00",
            "end": "17:00",
            "timezone": "Europe/Amsterdam",
        },
    }
)


def entered(at: datetime = T0, sequence: int = 3, stage: str = "sql") -> StageChanged:
    return StageChanged(
        lead_id="L1",
        sequence=sequence,
        from_stage="lead",
        to_stage="sql" if stage == "sql" else "sqo",
        occurred_at=at,
        trigger_event_id="e1",
        reasons=(),
        evidence=(),
        disqualification_reason=None,
        scores={},
        ruleset_name="default",
        ruleset_version="1.1",
    )


def kinds(
    now: datetime,
    worked_at: datetime | None = None,
    left_at: datetime | None = None,
    seen_at: datetime = T0,
    policy: SlaPolicy = POLICY,
) -> list[str]:
    return [e.kind for e in sla_events(policy, entered(), worked_at, left_at, now, seen_at)]


def test_the_defaults() -> None:
    policy = SlaPolicy.model_validate({"within": "4h"})
    assert policy.within == 4 * 3_600_000
    assert policy.warn_before is None
    assert policy.worked_by == ["call_completed", "meeting_held"]
    assert policy.business_hours is None


def test_nothing_is_due_before_the_warning() -> None:
    assert kinds(T0 + 3 * H - M) == []


def test_warning_then_breach() -> None:
    assert kinds(T0 + 3 * H) == ["warning"]
    assert kinds(T0 + 4 * H) == ["warning", "breached"]


def test_the_events_carry_the_record_fields() -> None:
    warning, breached = sla_events(POLICY, entered(), None, None, T0 + 5 * H, T0)
    assert warning.sla_event_id == "L1:3:warning"
    assert breached.sla_event_id == "L1:3:breached"
    assert breached == SlaEvent(
        lead_id="L1",
        sequence=3,
        kind="breached",
        stage="sql",
        stage_since=T0,
        due_at=T0 + 4 * H,
        policy={"within": "4h", "business_hours": None},
        occurred_at=T0 + 4 * H,
    )
    assert warning.due_at == T0 + 4 * H
    assert warning.occurred_at == T0 + 3 * H


def test_worked_before_the_warning_nothing() -> None:
    assert kinds(T0 + 9 * H, worked_at=T0 + 2 * H) == []


def test_worked_between_warning_and_breach_only_the_warning() -> None:
    assert kinds(T0 + 9 * H, worked_at=T0 + 3 * H + M) == ["warning"]


def test_worked_exactly_at_the_due_instant_is_in_time() -> None:
    assert kinds(T0 + 9 * H, worked_at=T0 + 4 * H) == ["warning"]


def test_left_the_stage_nothing_later() -> None:
    assert kinds(T0 + 9 * H, left_at=T0 + H) == []
    assert kinds(T0 + 9 * H, left_at=T0 + 3 * H + M) == ["warning"]


def test_a_worked_event_before_the_entry_does_not_stop_the_clock() -> None:
    assert kinds(T0 + 9 * H, worked_at=T0 - H) == ["warning", "breached"]


def test_a_backlog_entry_gets_one_breach_and_no_warning() -> None:
    seen = T0 + 2 * 24 * H  # leadq saw the entry two days late
    assert kinds(seen, seen_at=seen) == ["breached"]
    assert kinds(seen + 24 * H, seen_at=seen) == ["breached"]


def test_a_backlog_entry_worked_in_time_gets_nothing() -> None:
    seen = T0 + 24 * H
    assert kinds(seen, worked_at=T0 + H, seen_at=seen) == []


def test_an_entry_seen_after_its_warning_instant_still_warns_before_due() -> None:
    seen = T0 + 3 * H + 30 * M
    assert kinds(seen, seen_at=seen) == ["warning"]


def test_ids_and_content_are_deterministic() -> None:
    first = sla_events(POLICY, entered(), None, None, T0 + 5 * H, T0)
    again = sla_events(POLICY, entered(), None, None, T0 + 50 * H, T0)
    assert first == again
    other = sla_events(POLICY, entered(sequence=7), None, None, T0 + 5 * H, T0)
    assert [e.sla_event_id for e in other] == ["L1:7:warning", "L1:7:breached"]


def test_business_hours_move_the_due_instant() -> None:
    friday = datetime(2026, 6, 5, 15, 0, tzinfo=AMS)
    events = sla_events(OFFICE_POLICY, entered(friday), None, None, friday + 4 * 24 * H, friday)
    assert [e.due_at for e in events] == [datetime(2026, 6, 8, 11, 0, tzinfo=AMS)] * 2
    assert events[0].policy == {
        "within": "4h",
        "business_hours": {
            "days": ["mon", "tue", "wed", "thu", "fri"],
            "start": "09:00",
            "end": "17:00",
            "timezone": "Europe/Amsterdam",
        },
    }


def test_the_timer_instant_is_the_next_thing_due() -> None:
    assert next_sla_at(POLICY, entered(), None, None, T0, T0) == T0 + 3 * H
    assert next_sla_at(POLICY, entered(), None, None, T0 + 3 * H, T0) == T0 + 4 * H
    assert next_sla_at(POLICY, entered(), None, None, T0 + 4 * H, T0) is None
    assert next_sla_at(POLICY, entered(), T0 + H, None, T0 + H, T0) is None
    assert next_sla_at(POLICY, entered(), None, T0 + 3 * H + M, T0 + 3 * H + M, T0) is None


def test_a_backlog_entry_needs_no_timer() -> None:
    seen = T0 + 24 * H
    assert next_sla_at(POLICY, entered(), None, None, seen, seen) is None


@pytest.mark.parametrize("preset", PRESETS)
def test_every_preset_has_an_sql_sla(preset: str) -> None:
    sla = load_ruleset(preset).sla
    assert sla is not None
    assert sla.policy("sql") is sla.sql
    assert sla.policy("lead") is None


offsets = st.integers(min_value=-600, max_value=600).map(lambda m: m * M)
maybe_offsets = st.none() | st.integers(min_value=0, max_value=600).map(lambda m: T0 + m * M)


@given(offsets, offsets, maybe_offsets, maybe_offsets)
def test_events_only_accumulate_and_the_timer_says_when(
    a: timedelta, b: timedelta, worked: datetime | None, left: datetime | None
) -> None:
    early, late = sorted((T0 + 5 * H + a, T0 + 5 * H + b))
    before = sla_events(POLICY, entered(), worked, left, early, T0)
    after = sla_events(POLICY, entered(), worked, left, late, T0)
    assert after[: len(before)] == before
    nxt = next_sla_at(POLICY, entered(), worked, left, early, T0)
    if nxt is None or late < nxt:
        assert after == before
    else:
        assert len(sla_events(POLICY, entered(), worked, left, nxt, T0)) > len(before)
