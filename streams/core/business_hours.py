"""Business hours and the working-time arithmetic of SLA clocks (pure, deterministic)."""

from __future__ import annotations

import re
import zoneinfo
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from typing import Self

from pydantic import Field, field_validator, model_validator

from streams.core.rule_base import Rule
from streams.core.ruleset_errors import did_you_mean

DAYS: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_CLOCK = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


@cache  # read for every working day an SLA clock spans
def _clock_time(value: str) -> time:
    found = _CLOCK.match(value)
    if found is None:
        raise ValueError(f"'{value}' is not a time of day; write it as HH:MM, e.g. '09:00'")
    return time(int(found.group(1)), int(found.group(2)))


class BusinessHours(Rule):
    """The working week: on these days, from start to end local time in timezone."""

    days: list[str] = Field(min_length=1)
    start: str
    end: str
    timezone: str

    @field_validator("days")
    @classmethod
    def _known_days(cls, days: list[str]) -> list[str]:
        for day in days:
            if day not in DAYS:
                raise ValueError(
                    f"unknown day '{day}'{did_you_mean(day, DAYS)}; the days are {', '.join(DAYS)}"
                )
        twice = sorted({day for day in days if days.count(day) > 1}, key=DAYS.index)
        if twice:
            raise ValueError(f"{', '.join(twice)} given more than once")
        return days

    @field_validator("start", "end")
    @classmethod
    def _clock(cls, value: str) -> str:
        _clock_time(value)
        return value

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            hint = did_you_mean(value, zoneinfo.available_timezones())
            raise ValueError(
                f"unknown time zone '{value}'{hint}; use a name such as 'Europe/Amsterdam'"
            ) from None
        return value

    @model_validator(mode="after")
    def _start_before_end(self) -> Self:
        if _clock_time(self.start) >= _clock_time(self.end):
            raise ValueError(f"start ({self.start}) must be earlier than end ({self.end})")
        return self

    @property
    def zone(self) -> zoneinfo.ZoneInfo:
        """The time zone the hours are in."""
        return zoneinfo.ZoneInfo(self.timezone)

    def window(self, day: date) -> tuple[datetime, datetime] | None:
        """The UTC instants the given local day opens and closes (None: not a working day)."""
        if DAYS[day.weekday()] not in self.days:
            return None
        zone = self.zone
        opens = datetime.combine(day, _clock_time(self.start), tzinfo=zone)
        closes = datetime.combine(day, _clock_time(self.end), tzinfo=zone)
        return opens.astimezone(UTC), closes.astimezone(UTC)

    def echo(self) -> dict[str, object]:
        """The hours as written, for an SLA record's `policy`."""
        return {
            "days": list(self.days),
            "start": self.start,
            "end": self.end,
            "timezone": self.timezone,
        }


def _utc(instant: datetime) -> datetime:
    if instant.tzinfo is None:
        raise ValueError("SLA instants must be timezone-aware")
    return instant.astimezone(UTC)


def due_at(start: datetime, within: timedelta, hours: BusinessHours | None) -> datetime:
    """The UTC instant `within` of working time after `start`.

    Without business hours that is plain wall-clock time (start + within). With them only
    time inside a working day's hours counts: nights and non-working days are skipped,
    a start outside the hours starts counting at the next opening, and each day's hours
    are local time in the zone (so a day with a DST change still opens at 09:00 local).
    """
    if within < timedelta(0):
        raise ValueError("within must not be negative")
    cursor = _utc(start)
    if hours is None:
        return cursor + within
    remaining = within
    day = cursor.astimezone(hours.zone).date() - timedelta(days=1)  # an opening may be UTC-early
    while True:
        window = hours.window(day)
        day += timedelta(days=1)
        if window is None:
            continue
        opens, closes = window
        begin = max(cursor, opens)
        if begin > closes:
            continue
        if remaining <= closes - begin:
            return begin + remaining
        remaining -= closes - begin
        cursor = closes


def warning_at(
    start: datetime, within: timedelta, warn_before: timedelta, hours: BusinessHours | None
) -> datetime | None:
    """The UTC instant `warn_before` of working time before the due instant, or None when
    that would not be after the start (a warning longer than the SLA itself)."""
    if warn_before >= within:
        return None
    return due_at(start, within - warn_before, hours)
