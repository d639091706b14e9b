"""Business-hours arithmetic: adding working time skips nights, weekends and DST shifts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from streams.core.business_hours import BusinessHours, due_at, warning_at

AMS = ZoneInfo("Europe/Amsterdam")
WEEKDAYS = ["mon", "tue", "wed", "thu", "fri"]
OFFICE = BusinessHours(days=WEEKDAYS, start="09:00", end="17:00", timezone="Europe/Amsterdam")
H = timedelta(hours=1)


def ams(year: int, month: int, day: int, hour: int, minute: int) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=AMS)


def test_inside_hours_the_due_instant_is_plain_addition() -> None:
    assert due_at(ams(2026, 6, 2, 10, 0), 4 * H, OFFICE) == ams(2026, 6, 2, 14, 0)


def test_the_result_is_utc() -> None:
    due = due_at(ams(2026, 6, 2, 10, 0), 4 * H, OFFICE)
    assert due.tzinfo is UTC
    assert due == datetime(2026, 6, 2, 12, 0, tzinfo=UTC)


def test_nights_are_skipped() -> None:
    # Tuesday 15:00 + 4h: 2h on Tuesday, 2h from Wednesday's opening.
    assert due_at(ams(2026, 6, 2, 15, 0), 4 * H, OFFICE) == ams(2026, 6, 3, 11, 0)


def test_weekends_are_skipped() -> None:
    friday = ams(2026, 6, 5, 16, 0)
    assert friday.weekday() == 4
    assert due_at(friday, 4 * H, OFFICE) == ams(2026, 6, 8, 12, 0)  # Monday


@pytest.mark.parametrize(
    ("start", "expected"),
    [
        (ams(2026, 6, 2, 6, 30), ams(2026, 6, 2, 13, 0)),  # before opening
        (ams(2026, 6, 2, 17, 0), ams(2026, 6, 3, 13, 0)),  # at closing
        (ams(2026, 6, 2, 22, 15), ams(2026, 6, 3, 13, 0)),  # at night
        (ams(2026, 6, 6, 11, 0), ams(2026, 6, 8, 13, 0)),  # Saturday
        (ams(2026, 6, 7, 23, 59), ams(2026, 6, 8, 13, 0)),  # Sunday night
    ],
)
def test_a_start_outside_hours_counts_from_the_next_opening(
    start: datetime, expected: datetime
) -> None:
    assert due_at(start, 4 * H, OFFICE) == expected


def test_a_start_in_another_zone_is_the_same_instant() -> None:
    start = datetime(2026, 6, 2, 4, 30, tzinfo=ZoneInfo("America/New_York"))  # 10:30 in AMS
    assert due_at(start, 4 * H, OFFICE) == ams(2026, 6, 2, 14, 30)


def test_within_spanning_several_days() -> None:
    # 20 working hours from Thursday 13:00: 4h Thu, 8h Fri, 8h Mon -> Monday 17:00.
    assert due_at(ams(2026, 6, 4, 13, 0), 20 * H, OFFICE) == ams(2026, 6, 8, 17, 0)
    # "2d" of working time is 48 working hours: six working days.
    assert due_at(ams(2026, 6, 1, 9, 0), 48 * H, OFFICE) == ams(2026, 6, 8, 17, 0)


def test_zero_within_outside_hours_is_the_next_opening() -> None:
    assert due_at(ams(2026, 6, 6, 11, 0), timedelta(0), OFFICE) == ams(2026, 6, 8, 9, 0)


def test_over_the_spring_dst_weekend_the_office_still_opens_at_nine_local() -> None:
    friday = ams(2026, 3, 27, 16, 0)  # CET (+01:00); clocks go forward on Sunday 29 March
    assert ams(2026, 3, 29, 12, 0).weekday() == 6
    due = due_at(friday, 2 * H, OFFICE)
    assert due == ams(2026, 3, 30, 10, 0)  # Monday, CEST (+02:00)
    assert due == datetime(2026, 3, 30, 8, 0, tzinfo=UTC)


def test_over_the_autumn_dst_weekend_the_office_still_opens_at_nine_local() -> None:
    friday = ams(2026, 10, 23, 16, 0)  # CEST; clocks go back on Sunday 25 October
    assert ams(2026, 10, 25, 12, 0).weekday() == 6
    due = due_at(friday, 2 * H, OFFICE)
    assert due == datetime(2026, 10, 26, 9, 0, tzinfo=UTC)  # Monday 10:00 CET


NIGHT_SHIFT = BusinessHours(
    days=["sun", "mon"], start="01:00", end="05:00", timezone="Europe/Amsterdam"
)


def test_the_day_clocks_go_forward_has_an_hour_less_of_working_time() -> None:
    # Sunday 29 March 2026, 01:00-05:00 local is 00:00-03:00 UTC: three hours.
    start = ams(2026, 3, 29, 1, 0)
    assert due_at(start, 3 * H, NIGHT_SHIFT) == datetime(2026, 3, 29, 3, 0, tzinfo=UTC)
    # The fourth hour is Monday 01:00-02:00 CEST.
    assert due_at(start, 4 * H, NIGHT_SHIFT) == datetime(2026, 3, 30, 0, 0, tzinfo=UTC)


def test_the_day_clocks_go_back_has_an_hour_more_of_working_time() -> None:
    # Sunday 25 October 2026, 01:00 CEST-05:00 CET is 23:00 (Sat) to 04:00 UTC: five hours.
    start = ams(2026, 10, 25, 1, 0)
    assert due_at(start, 5 * H, NIGHT_SHIFT) == datetime(2026, 10, 25, 4, 0, tzinfo=UTC)
    assert due_at(start, 6 * H, NIGHT_SHIFT) == datetime(2026, 10, 26, 1, 0, tzinfo=UTC)


def test_without_business_hours_time_is_wall_clock() -> None:
    start = datetime(2026, 3, 28, 23, 0, tzinfo=UTC)
    assert due_at(start, 4 * H, None) == start + 4 * H


def test_the_warning_is_warn_before_of_working_time_before_due() -> None:
    start = ams(2026, 6, 5, 15, 0)  # Friday
    assert due_at(start, 4 * H, OFFICE) == ams(2026, 6, 8, 11, 0)
    assert warning_at(start, 4 * H, 1 * H, OFFICE) == ams(2026, 6, 8, 10, 0)
    assert warning_at(start, 4 * H, 3 * H, OFFICE) == ams(2026, 6, 5, 16, 0)


def test_no_warning_when_it_would_not_come_after_the_start() -> None:
    assert warning_at(ams(2026, 6, 2, 10, 0), 1 * H, 1 * H, OFFICE) is None


def test_a_naive_start_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        due_at(datetime(2026, 6, 2, 10, 0), H, OFFICE)


instants = st.datetimes(
    min_value=datetime(2025, 1, 1), max_value=datetime(2028, 12, 31), timezones=st.just(UTC)
)
durations = st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=10))
hour_sets = st.sampled_from([None, OFFICE, NIGHT_SHIFT])


@given(instants, durations, hour_sets)
def test_due_is_never_before_start_plus_within(
    start: datetime, within: timedelta, hours: BusinessHours | None
) -> None:
    assert due_at(start, within, hours) >= start + within


@given(instants, durations)
def test_without_business_hours_due_is_start_plus_within(
    start: datetime, within: timedelta
) -> None:
    assert due_at(start, within, None) == start + within


@given(instants, instants, durations, hour_sets)
def test_due_is_monotonic_in_start(
    a: datetime, b: datetime, within: timedelta, hours: BusinessHours | None
) -> None:
    early, late = sorted((a, b))
    assert due_at(early, within, hours) <= due_at(late, within, hours)


@given(instants, durations, durations, hour_sets)
def test_due_is_monotonic_in_within(
    start: datetime, a: timedelta, b: timedelta, hours: BusinessHours | None
) -> None:
    short, long = sorted((a, b))
    assert due_at(start, short, hours) <= due_at(start, long, hours)


@given(instants, durations, durations)
def test_working_time_adds_up(start: datetime, a: timedelta, b: timedelta) -> None:
    # Counting a then b of working time ends where counting a + b does.
    assert due_at(due_at(start, a, OFFICE), b, OFFICE) == due_at(start, a + b, OFFICE)
