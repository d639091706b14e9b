"""The /events feed: every subscriber gets every change; one that falls behind is cut off."""

from __future__ import annotations

import pytest

from streams.api.feed import Feed, Item


@pytest.mark.asyncio
async def test_each_subscriber_receives_every_change_until_it_closes() -> None:
    feed = Feed()
    first, second = feed.subscribe(), feed.subscribe()
    feed.publish(Item("L1:1", "{}"))
    assert await first.next() == Item("L1:1", "{}")
    assert await second.next() == Item("L1:1", "{}")
    second.close()
    second.close()  # twice is fine
    feed.publish(Item("L1:2", "{}"))
    assert feed.clients == 1
    assert await first.next() == Item("L1:2", "{}")
    assert second.queue.empty()


@pytest.mark.asyncio
async def test_a_subscriber_that_falls_behind_is_cut_off() -> None:
    feed = Feed(queue_size=2)
    slow = feed.subscribe()
    for n in range(3):
        feed.publish(Item(f"L1:{n}", "{}"))
    assert feed.clients == 0
    assert [await slow.next() for _ in range(3)] == [Item("L1:0", "{}"), Item("L1:1", "{}"), None]
