"""Records whose stage changes are on their way: their lead states wait here, in order,
until the changes are acknowledged, and serve the records that follow meanwhile."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Final

from streams.core.state import LeadState
from streams.failstop import stop_now

IN_FLIGHT_RECORDS: Final = 64  # records applied ahead of their acknowledgements, at most


@dataclass(eq=False)
class Pending:
    """One applied record: its stream and event, the generation it was fetched in, the final
    state of each lead it changed, and the acknowledgement of what it sent (None: nothing
    sent)."""

    stream: Any
    event: Any
    generation: int
    states: dict[bytes, LeadState]
    acks: asyncio.Future[Any] | None = None
    done: asyncio.Event = field(default_factory=asyncio.Event)


class InFlight:
    """Completes applied records strictly in order, each once its sends are acknowledged.

    `complete(pending)` stores a record's states and acks its event (or drops it, when a
    rebalance made it stale). Until then a lead's newest state is read from here, so the
    next record builds on it: the agent applies records back to back instead of waiting
    for each record's acknowledgements (a few ms per record) before the next.
    """

    def __init__(
        self, complete: Callable[[Pending], Awaitable[None]], limit: int = IN_FLIGHT_RECORDS
    ) -> None:
        self._complete = complete
        self._limit = limit
        self._queue: deque[Pending] = deque()
        self._newest: dict[bytes, tuple[LeadState, Pending]] = {}
        self._added = asyncio.Event()
        self._room = asyncio.Event()
        self._room.set()

    def __len__(self) -> int:
        return len(self._queue)

    def state(self, key: bytes) -> LeadState | None:
        """The newest state of a lead changed by a record not yet completed."""
        found = self._newest.get(key)
        return found[0] if found is not None else None

    def generation(self) -> int | None:
        """The generation of the newest record in flight (None when there is none)."""
        return self._queue[-1].generation if self._queue else None

    async def add(self, pending: Pending) -> None:
        """Queue an applied record (waits while IN_FLIGHT_RECORDS are queued)."""
        while len(self._queue) >= self._limit:
            self._room.clear()
            await self._room.wait()
        self._queue.append(pending)
        for key, state in pending.states.items():
            self._newest[key] = (state, pending)
        self._added.set()

    async def drained(self) -> None:
        """Return once every queued record is completed."""
        if self._queue:
            await self._queue[-1].done.wait()

    async def run(self) -> None:
        """Complete records in order, for as long as the agent runs."""
        while True:
            if not self._queue:
                self._added.clear()
                await self._added.wait()
                continue
            head = self._queue[0]
            if head.acks is not None:
                try:
                    await head.acks
                except Exception as exc:  # the producer gave up after its own retries
                    stop_now(f"sending stage changes failed: {exc!r}")
            await self._complete(head)
            self._queue.popleft()
            for key in head.states:
                if self._newest.get(key, (None, None))[1] is head:
                    del self._newest[key]
            head.done.set()
            self._room.set()
