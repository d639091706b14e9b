"""Fail-stop: transient failures are retried; persistent ones end the process uncommitted."""

from __future__ import annotations

import pytest

from streams.worker import failstop

pytestmark = pytest.mark.asyncio


class Flaky:
    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.calls = 0

    async def __call__(self, value: str) -> str:
        self.calls += 1
        if self.calls <= self.failures:
            raise ConnectionError("broker away")
        return value


async def test_transient_failures_are_retried_until_success() -> None:
    attempt = Flaky(failures=2)
    assert await failstop.retry_or_stop("sending", attempt, "ok") == "ok"
    assert attempt.calls == 3


async def test_persistent_failure_exits_without_returning(monkeypatch: pytest.MonkeyPatch) -> None:
    exits: list[int] = []

    def fake_exit(code: int) -> None:
        exits.append(code)
        raise SystemExit(code)

    monkeypatch.setattr(failstop, "RETRY_FOR_S", 0.2)
    monkeypatch.setattr("streams.worker.failstop.os._exit", fake_exit)
    with pytest.raises(SystemExit):
        await failstop.retry_or_stop("storing", Flaky(failures=10**6), "never")
    assert exits == [failstop.EXIT_CODE]
