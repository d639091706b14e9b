"""When to retry: the verdict on each answer, Retry-After, the backoff schedule with jitter,
and giving up at max_age."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
from tenacity import AsyncRetrying, RetryCallState

from streams.alerts.backoff import (
    Attempt,
    RetryAfterOrBackoff,
    TryAgain,
    Verdict,
    classify,
    give_up_at,
    parse_retry_after,
)
from streams.alerts.config import Destination

NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("status", "verdict"),
    [
        (200, Verdict.DELIVERED),
        (202, Verdict.DELIVERED),
        (204, Verdict.DELIVERED),
        (None, Verdict.RETRY),
        (408, Verdict.RETRY),
        (429, Verdict.RETRY),
        (500, Verdict.RETRY),
        (502, Verdict.RETRY),
        (503, Verdict.RETRY),
        (599, Verdict.RETRY),
        (410, Verdict.GONE),
        (400, Verdict.REJECTED),
        (401, Verdict.REJECTED),
        (403, Verdict.REJECTED),
        (404, Verdict.REJECTED),
        (413, Verdict.REJECTED),
        (301, Verdict.REJECTED),
        (100, Verdict.REJECTED),
    ],
)
def test_classify(status: int | None, verdict: Verdict) -> None:
    assert classify(status) is verdict
    assert Attempt(status).verdict is verdict


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        (None, None),
        ("0", 0.0),
        ("7", 7.0),
        (" 120 ", 120.0),
        (format_datetime(NOW + timedelta(seconds=30), usegmt=True), 30.0),
        (format_datetime(NOW - timedelta(hours=1), usegmt=True), 0.0),
        ("soon", None),
        ("-5", None),
        ("", None),
    ],
)
def test_parse_retry_after(header: str | None, seconds: float | None) -> None:
    assert parse_retry_after(header, NOW) == seconds


def state_after(attempts: int, failure: Exception | None = None) -> RetryCallState:
    """The retry state after `attempts` failed attempts (the last one with `failure`)."""
    state = RetryCallState(AsyncRetrying(), None, (), {})
    state.attempt_number = attempts
    error = failure or TryAgain(Attempt(503, "HTTP 503"))
    state.set_exception((type(error), error, None))
    return state


def test_backoff_doubles_with_jitter_up_to_the_cap() -> None:
    wait = RetryAfterOrBackoff(base_s=1.0, cap_s=60.0)
    random.seed(3)
    for attempts in range(1, 12):
        waits = [wait(state_after(attempts)) for _ in range(200)]
        low = min(2 ** (attempts - 1), 60.0)
        high = min(2 ** (attempts - 1) + 1.0, 60.0)
        assert all(low <= w <= high for w in waits), attempts
        if high > low:
            assert max(waits) - min(waits) > 0.5 * (high - low)  # jittered, not fixed


def test_the_first_retry_comes_within_5_s_by_default() -> None:
    rules = Destination(name="x", kind="slack", url="https://x.test")
    wait = RetryAfterOrBackoff(rules.backoff / 1000, rules.backoff_max / 1000)
    assert all(wait(state_after(1)) <= 5.0 for _ in range(500))
    assert rules.backoff_max / 1000 == 300


def test_retry_after_takes_the_place_of_the_backoff() -> None:
    wait = RetryAfterOrBackoff(base_s=0.05, cap_s=0.2)
    assert wait(state_after(1, TryAgain(Attempt(429, "HTTP 429", retry_after_s=7.0)))) == 7.0
    assert wait(state_after(9, TryAgain(Attempt(503, "HTTP 503", retry_after_s=0.0)))) == 0.0
    assert wait(state_after(1, TryAgain(Attempt(503, "HTTP 503")))) <= 0.1


def test_give_up_when_the_next_attempt_would_be_after_the_deadline() -> None:
    now = [100.0]
    disabled = [False]
    stop = give_up_at(110.0, lambda: now[0], lambda: disabled[0])
    state = state_after(1)
    state.upcoming_sleep = 5.0
    assert not stop(state)
    now[0] = 105.0
    assert not stop(state)  # lands exactly on the deadline
    now[0] = 105.1
    assert stop(state)
    now[0], disabled[0] = 100.0, True
    assert stop(state)
