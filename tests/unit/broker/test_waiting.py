"""Polling a condition, the file lock between processes, coroutines run from sync code."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from streams.broker.errors import BrokerError
from streams.broker.waiting import file_lock, run_async, wait_for
from tests.support.broker import assert_one_sentence


def test_wait_for_returns_true_once_the_condition_holds() -> None:
    deadline = time.monotonic() + 0.3
    assert wait_for(lambda: time.monotonic() >= deadline, timeout=10, interval=0.01)


def test_wait_for_gives_up_after_the_timeout() -> None:
    started = time.monotonic()
    assert wait_for(lambda: False, timeout=0.2, interval=0.05) is False
    assert time.monotonic() - started < 5


def test_a_held_file_lock_makes_a_second_holder_give_up(tmp_path: Path) -> None:
    lock = tmp_path / "sub" / ".lock"
    with file_lock(lock, 1, "testing"):
        expected = "has been testing for more than 0 s"
        with pytest.raises(BrokerError, match=expected) as info, file_lock(lock, 0.2, "testing"):
            pass
        assert_one_sentence(str(info.value))
    with file_lock(lock, 1, "testing"):  # released on leaving the block
        pass


async def _answer() -> int:
    await asyncio.sleep(0)
    return 42


def test_run_async_without_a_running_loop() -> None:
    assert run_async(_answer) == 42


@pytest.mark.asyncio
async def test_run_async_inside_a_running_loop() -> None:
    assert run_async(_answer) == 42
