"""Per-lead queues of one destination: each lead in order, leads independent (pure)."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

T = TypeVar("T")


class LeadQueues(Generic[T]):
    """Items waiting for one destination, queued per lead.

    Only a lead's head item is being worked on; the next one waits until the head is done
    (delivered or dead-lettered), so a lead's records reach the destination in order. A
    retrying head holds up its own lead only.
    """

    def __init__(self) -> None:
        self._queues: dict[str, deque[T]] = {}

    def add(self, lead: str, item: T) -> bool:
        """Queue an item; True when it is the lead's head (nothing of the lead was queued)."""
        queue = self._queues.get(lead)
        if queue is None:
            self._queues[lead] = deque([item])
            return True
        queue.append(item)
        return False

    def head(self, lead: str) -> T | None:
        """The lead's item to work on now, if any."""
        queue = self._queues.get(lead)
        return queue[0] if queue else None

    def pop(self, lead: str) -> T | None:
        """The head is done: remove it and return the lead's next item, if any."""
        queue = self._queues.get(lead)
        if not queue:
            return None
        queue.popleft()
        if not queue:
            del self._queues[lead]
            return None
        return queue[0]

    def discard(self, drop: Callable[[T], bool]) -> set[str]:
        """Remove every item `drop` selects; return the leads whose head was removed (the
        work on those heads must stop; a lead with items left goes on with its new head)."""
        beheaded: set[str] = set()
        for lead in list(self._queues):
            queue = self._queues[lead]
            if drop(queue[0]):
                beheaded.add(lead)
            kept = deque(item for item in queue if not drop(item))
            if kept:
                self._queues[lead] = kept
            else:
                del self._queues[lead]
        return beheaded

    def leads(self) -> Iterator[str]:
        """The leads with queued items."""
        return iter(list(self._queues))

    def __len__(self) -> int:
        """The number of queued items, heads included."""
        return sum(len(q) for q in self._queues.values())
