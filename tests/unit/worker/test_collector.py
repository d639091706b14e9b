"""The worker's collector: automatic collection off while it runs, young garbage collected on
its timer, garbage in the oldest generation only at its full collections."""

from __future__ import annotations

import asyncio
import gc
import time
import weakref
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import pytest

from streams.worker.collector import Collector

pytestmark = [pytest.mark.asyncio, pytest.mark.timeout(30)]

WAIT_S = 10.0


class Node:
    """A reference-cycle member: only the cyclic collector frees it."""

    def __init__(self) -> None:
        self.other: Node | None = None


def cycle() -> tuple[Node, weakref.ref[Node]]:
    """A two-node cycle, and a weak reference that dies when the collector frees it."""
    a, b = Node(), Node()
    a.other, b.other = b, a
    return a, weakref.ref(b)


async def until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"waited {WAIT_S:g}s for {what}")
        await asyncio.sleep(0.005)


@asynccontextmanager
async def running(collector: Collector) -> AsyncIterator[Collector]:
    await collector.start()
    try:
        yield collector
    finally:
        await collector.stop()
        gc.enable()  # as it was, even if stop() failed


async def test_it_turns_the_automatic_collector_off_while_it_runs() -> None:
    assert gc.isenabled()
    async with running(Collector(young_s=0.01, full_s=3600)):
        assert not gc.isenabled()
    assert gc.isenabled()


async def test_young_garbage_in_a_cycle_is_collected_on_the_timer() -> None:
    async with running(Collector(young_s=0.01, full_s=3600)) as collector:
        node, alive = cycle()
        del node
        await until(lambda: alive() is None, "the cycle to be collected")
        assert collector.young_collections >= 1
        assert collector.full_collections == 0


async def test_garbage_in_the_oldest_generation_waits_for_a_full_collection() -> None:
    async with running(Collector(young_s=0.01, full_s=3600)) as collector:
        node, alive = cycle()
        start = collector.young_collections
        # Alive through two young collections: it has moved to the oldest generation.
        await until(lambda: collector.young_collections >= start + 2, "two young collections")
        del node
        seen = collector.young_collections
        await until(lambda: collector.young_collections >= seen + 3, "three more")
        assert alive() is not None  # young collections do not look at it
        collector.full_s = 0.0  # the next round is a full collection
        await until(lambda: alive() is None, "a full collection to free it")
        assert collector.full_collections >= 1
