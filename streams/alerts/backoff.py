"""What an answer means, when to retry (Retry-After or backoff with jitter), when to give up."""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from tenacity import RetryCallState, wait_exponential_jitter
from tenacity.wait import wait_base


class Verdict(enum.Enum):
    """What to do after an attempt."""

    DELIVERED = "delivered"  # any 2xx
    RETRY = "retry"  # no answer (network error, timeout), 408, 429 or 5xx
    GONE = "gone"  # 410: the receiver says the endpoint is gone for good
    REJECTED = "rejected"  # any other answer: retrying would not help


def classify(status: int | None) -> Verdict:
    """The verdict on an attempt that got HTTP `status` (None: no answer at all)."""
    if status is None or status in (408, 429) or 500 <= status <= 599:
        return Verdict.RETRY
    if 200 <= status <= 299:
        return Verdict.DELIVERED
    if status == 410:
        return Verdict.GONE
    return Verdict.REJECTED


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds to wait from a Retry-After header (delay-seconds or an HTTP date), or None
    when absent or unreadable. A date in the past means 0."""
    if value is None:
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


@dataclass(frozen=True)
class Attempt:
    """One attempt's result: the HTTP status (None: no answer), a short error text for a
    failure, and the receiver's Retry-After in seconds."""

    status: int | None
    error: str | None = None
    retry_after_s: float | None = None

    @property
    def verdict(self) -> Verdict:
        return classify(self.status)


class TryAgain(Exception):
    """Raised inside a tenacity attempt when the answer is worth retrying."""

    def __init__(self, attempt: Attempt) -> None:
        super().__init__(attempt.error or f"HTTP {attempt.status}")
        self.attempt = attempt


class RetryAfterOrBackoff(wait_base):
    """The receiver's Retry-After when it gave one, else exponential backoff with jitter:
    `base * 2**(n-1) + uniform(0, base)`, at most `cap` (n: attempts so far)."""

    def __init__(self, base_s: float, cap_s: float) -> None:
        self.backoff = wait_exponential_jitter(multiplier=base_s, max=cap_s, jitter=base_s)

    def __call__(self, retry_state: RetryCallState) -> float:
        outcome = retry_state.outcome
        failure = outcome.exception() if outcome is not None else None
        if isinstance(failure, TryAgain) and failure.attempt.retry_after_s is not None:
            return failure.attempt.retry_after_s
        return float(self.backoff(retry_state))


def give_up_at(
    deadline: float, clock: Callable[[], float], disabled: Callable[[], bool]
) -> Callable[[RetryCallState], bool]:
    """A tenacity stop: when the next attempt would come after `deadline` (on `clock`), or
    the destination has been disabled meanwhile."""

    def stop(retry_state: RetryCallState) -> bool:
        return disabled() or clock() + retry_state.upcoming_sleep > deadline

    return stop
