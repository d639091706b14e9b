"""The consumer loop's cheaper message hand-over keeps faust's semantics (real mode.Service)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from faust.transport.consumer import Consumer
from mode import Service

from streams import faust_speedups
from streams.faust_speedups import _deliver

STEP_TIMEOUT_S = 5.0


class FakeConsumer(Service):
    """Just what _deliver uses of faust's consumer: wait_first and suspend_flow."""

    def __init__(self) -> None:
        super().__init__()
        self.suspend_flow = asyncio.Event()
        self.wait_first_calls = 0

    async def wait_first(self, *coros: Any, timeout: Any = None) -> Any:
        self.wait_first_calls += 1
        return await super().wait_first(*coros, timeout=timeout)


@pytest.mark.asyncio
async def test_a_callback_that_does_not_suspend_is_delivered_without_tasks() -> None:
    consumer, delivered = FakeConsumer(), []

    async def callback(message: str) -> None:
        delivered.append(message)

    await asyncio.wait_for(_deliver(consumer, callback, "m1"), STEP_TIMEOUT_S)
    assert delivered == ["m1"]
    assert consumer.wait_first_calls == 0


@pytest.mark.asyncio
async def test_a_callback_that_suspends_is_finished_under_wait_first() -> None:
    consumer, delivered = FakeConsumer(), []
    entered, room = asyncio.Event(), asyncio.Event()

    async def callback(message: str) -> None:
        entered.set()
        await room.wait()  # back-pressure: the stream's queue is full
        delivered.append(message)

    task = asyncio.ensure_future(_deliver(consumer, callback, "m1"))
    await asyncio.wait_for(entered.wait(), STEP_TIMEOUT_S)
    assert delivered == []
    room.set()
    await asyncio.wait_for(task, STEP_TIMEOUT_S)
    assert delivered == ["m1"]
    assert consumer.wait_first_calls == 1


@pytest.mark.asyncio
async def test_a_blocked_callback_is_abandoned_when_the_flow_is_suspended() -> None:
    consumer, delivered, cancelled = FakeConsumer(), [], []
    entered, never = asyncio.Event(), asyncio.Event()

    async def callback(message: str) -> None:
        entered.set()
        try:
            await never.wait()
        except asyncio.CancelledError:
            cancelled.append(message)
            raise
        delivered.append(message)

    task = asyncio.ensure_future(_deliver(consumer, callback, "m1"))
    await asyncio.wait_for(entered.wait(), STEP_TIMEOUT_S)
    consumer.suspend_flow.set()  # a rebalance starts
    await asyncio.wait_for(task, STEP_TIMEOUT_S)
    assert delivered == []
    assert cancelled == ["m1"]


@pytest.mark.asyncio
async def test_a_callback_error_propagates_from_either_path() -> None:
    consumer = FakeConsumer()

    async def fails_at_once(message: str) -> None:
        raise ValueError(message)

    async def fails_later(message: str) -> None:
        await asyncio.sleep(0)  # suspends once: the slow path
        raise ValueError(message)

    with pytest.raises(ValueError, match="now"):
        await asyncio.wait_for(_deliver(consumer, fails_at_once, "now"), STEP_TIMEOUT_S)
    with pytest.raises(ValueError, match="later"):
        await asyncio.wait_for(_deliver(consumer, fails_later, "later"), STEP_TIMEOUT_S)


def test_apply_installs_the_loop_unless_turned_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Consumer, "_drain_messages", faust_speedups.ORIGINAL_DRAIN_MESSAGES)
    monkeypatch.setenv("LEADQ_FAUST_SPEEDUPS", "0")
    assert faust_speedups.apply() is False
    assert Consumer._drain_messages is faust_speedups.ORIGINAL_DRAIN_MESSAGES
    monkeypatch.delenv("LEADQ_FAUST_SPEEDUPS")
    assert faust_speedups.apply() is True
    assert Consumer._drain_messages is faust_speedups._drain_messages_fast
