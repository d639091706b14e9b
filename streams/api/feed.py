"""Stage changes handed to every connected /events client as they are read."""

from __future__ import annotations

import asyncio
from typing import Final, NamedTuple

# A client this many changes behind is dropped (it reconnects; the page then reloads).
QUEUE_SIZE: Final = 1000


class Item(NamedTuple):
    """One stage change: its id and its record as on the topic."""

    change_id: str
    data: str


class Subscription:
    """One client's queue of changes; None in it means the client fell behind and is cut off."""

    def __init__(self, feed: Feed) -> None:
        self.feed = feed
        self.queue: asyncio.Queue[Item | None] = asyncio.Queue(feed.queue_size + 1)

    async def next(self) -> Item | None:
        """The next change, or None once the subscription is cut off."""
        return await self.queue.get()

    def close(self) -> None:
        """Stop receiving changes (may be called more than once)."""
        self.feed.subscriptions.discard(self)


class Feed:
    """Fans stage changes out to subscribers, each with a bounded queue of its own."""

    def __init__(self, queue_size: int = QUEUE_SIZE) -> None:
        self.queue_size = queue_size
        self.subscriptions: set[Subscription] = set()

    def subscribe(self) -> Subscription:
        """A subscription that receives every change published until it is closed."""
        subscription = Subscription(self)
        self.subscriptions.add(subscription)
        return subscription

    def publish(self, item: Item) -> None:
        """Hand a change to every subscriber; one whose queue is full is cut off."""
        for subscription in list(self.subscriptions):
            queue = subscription.queue
            if queue.qsize() < self.queue_size:
                queue.put_nowait(item)
            else:
                subscription.close()
                queue.put_nowait(None)  # the extra slot

    @property
    def clients(self) -> int:
        """How many subscribers there are."""
        return len(self.subscriptions)
