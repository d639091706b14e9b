"""Records the qualify agent has applied and sent, but whose states it has not stored yet."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Final

from faust.types import EventT, StreamT

from streams.core.events import LeadEvent
from streams.core.state import LeadState
from streams.worker.codec import OutgoingChange, OutgoingSla

# Records applied ahead of the acknowledgements of the first of them, at most. Bounds the
# work done again after a crash, and how long a lead's state waits to be stored.
AHEAD_RECORDS: Final = 64
# Stage changes and hand-overs sent ahead, at most: after a crash those whose states were
# not stored yet are sent again (duplicates under the same change_id). With 64 records and
# no such bound, the full kill -9 scenario re-emitted 681 changes over 20 kills.
AHEAD_SENDS: Final = 8


@dataclass
class Applied:
    """One record: its event, the states it left, what it sent and the sends' futures (its
    SLA events among them; and, with a shadow ruleset, the shadow states it left and the
    shadow's stage changes)."""

    event: EventT
    states: dict[bytes, LeadState]
    changes: list[OutgoingChange]
    forward: list[LeadEvent]
    sent: list[asyncio.Future[Any]]
    shadow_states: dict[bytes, LeadState] = field(default_factory=dict)
    shadow_changes: list[tuple[bytes, bytes]] = field(default_factory=list)
    sla: list[OutgoingSla] = field(default_factory=list)


@dataclass
class Pending:
    """The records applied since the last store, in order, and the latest state of each
    lead they touched (what later records are applied on top of), the shadow's apart."""

    records: list[Applied] = field(default_factory=list)
    states: dict[bytes, LeadState] = field(default_factory=dict)
    shadow_states: dict[bytes, LeadState] = field(default_factory=dict)
    sends: int = 0

    def add(self, applied: Applied) -> None:
        """Append a record applied on top of the pending states."""
        self.records.append(applied)
        self.states.update(applied.states)
        if applied.shadow_states:
            self.shadow_states.update(applied.shadow_states)
        self.sends += len(applied.sent)

    def takes(self, event: EventT) -> bool:
        """Whether a record may join: records of two consumer generations never share a
        batch. A batch fetched before a rebalance is dropped whole (its records are read
        again from the committed offsets), and records fetched after the rebalance must not
        go with it: they are not read again, and faust would commit past them."""
        if not self.records:
            return True
        generation: int = self.records[0].event.message.generation_id
        return bool(event.message.generation_id == generation)

    def full(self) -> bool:
        """Whether the records must be stored before more are applied."""
        return len(self.records) >= AHEAD_RECORDS or self.sends >= AHEAD_SENDS

    def final_states(self, shadow: bool = False) -> Iterator[tuple[EventT, bytes, LeadState]]:
        """Each lead's latest state (its shadow state, with `shadow`), with the event of the
        last record that touched it."""
        done: set[bytes] = set()
        for applied in reversed(self.records):
            for key, state in (applied.shadow_states if shadow else applied.states).items():
                if key not in done:
                    done.add(key)
                    yield applied.event, key, state

    def clear(self) -> None:
        """Forget every pending record."""
        self.records.clear()
        self.states.clear()
        self.shadow_states.clear()
        self.sends = 0


def records_waiting(stream: StreamT) -> bool:
    """Whether the agent's stream has more records queued right now (faust's channel queue)."""
    queue = getattr(stream.channel, "queue", None)
    return queue is not None and not queue.empty()
