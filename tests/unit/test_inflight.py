"""InFlight: records complete in order once acknowledged; their states serve later records."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio

from streams.core.state import LeadState
from streams.inflight import InFlight, Pending

pytestmark = pytest.mark.asyncio

STEP_TIMEOUT_S = 5.0


def state(key: str, sequence: int) -> LeadState:
    return LeadState(key=key, sequence=sequence)


def pending(name: str, states: dict[bytes, LeadState], acks: Any = None) -> Pending:
    return Pending(stream=None, event=name, generation=1, states=states, acks=acks)


class Completed:
    def __init__(self) -> None:
        self.order: list[str] = []

    async def __call__(self, record: Pending) -> None:
        self.order.append(record.event)


@pytest_asyncio.fixture
async def running() -> AsyncIterator[tuple[InFlight, Completed]]:
    completed = Completed()
    inflight = InFlight(completed, limit=2)
    task = asyncio.ensure_future(inflight.run())
    yield inflight, completed
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_records_complete_in_order_whatever_order_their_acks_arrive(
    running: tuple[InFlight, Completed],
) -> None:
    inflight, completed = running
    loop = asyncio.get_running_loop()
    first, second = loop.create_future(), loop.create_future()
    await inflight.add(pending("a", {b"L": state("L", 1)}, first))
    await inflight.add(pending("b", {b"M": state("M", 1)}, second))
    second.set_result(None)
    await asyncio.sleep(0)  # let the completer run: it must still wait for "a"
    assert completed.order == []
    first.set_result(None)
    await asyncio.wait_for(inflight.drained(), STEP_TIMEOUT_S)
    assert completed.order == ["a", "b"]
    assert len(inflight) == 0


async def test_a_lead_state_is_served_from_the_newest_record_until_completed(
    running: tuple[InFlight, Completed],
) -> None:
    inflight, _ = running
    acks = asyncio.get_running_loop().create_future()
    newest = state("L", 2)
    await inflight.add(pending("a", {b"L": state("L", 1)}, acks))
    await inflight.add(pending("b", {b"L": newest}))
    assert inflight.state(b"L") is newest
    assert inflight.state(b"other") is None
    acks.set_result(None)
    await asyncio.wait_for(inflight.drained(), STEP_TIMEOUT_S)
    assert inflight.state(b"L") is None  # stored by then: read from the table


async def test_add_waits_while_the_limit_of_records_is_in_flight(
    running: tuple[InFlight, Completed],
) -> None:
    inflight, completed = running
    acks = asyncio.get_running_loop().create_future()
    await inflight.add(pending("a", {}, acks))
    await inflight.add(pending("b", {}))
    third = asyncio.ensure_future(inflight.add(pending("c", {})))
    await asyncio.sleep(0)
    assert not third.done()
    acks.set_result(None)
    await asyncio.wait_for(third, STEP_TIMEOUT_S)
    await asyncio.wait_for(inflight.drained(), STEP_TIMEOUT_S)
    assert completed.order == ["a", "b", "c"]
