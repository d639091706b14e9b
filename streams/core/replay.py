"""Replay: a recorded stream through the pure core as the workers run it (routed by key)."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field

from streams.core.events import LeadEvent, StageChanged
from streams.core.qualify import ANONYMOUS_PREFIX, Qualifier, Rejected, routing_key
from streams.core.state import LeadState


@dataclass
class Replay:
    """Runs events through a Qualifier as the workers do, without Kafka: each event under its
    routing key, events a visitor hands over to its lead under the lead's key."""

    qualifier: Qualifier
    states: dict[str, LeadState] = field(default_factory=dict)
    changes: dict[str, list[StageChanged]] = field(default_factory=dict)
    rejections: list[tuple[LeadEvent, Rejected]] = field(default_factory=list)

    def feed(self, event: LeadEvent) -> None:
        """Process one input event and everything it hands over."""
        pending: deque[tuple[str, LeadEvent]] = deque([(routing_key(event), event)])
        while pending:
            key, item = pending.popleft()
            decision = self.qualifier.process(self.states.get(key) or LeadState(key=key), item)
            self.states[key] = decision.state
            if decision.changes:
                self.changes.setdefault(key, []).extend(decision.changes)
            if decision.rejection is not None:
                self.rejections.append((item, decision.rejection))
            pending.extend((e.lead_id or "", e) for e in decision.forward)

    def finish(self, now_ms: int) -> None:
        """Apply the time-driven changes due by event time now_ms to every lead."""
        for key, state in self.states.items():
            if key.startswith(ANONYMOUS_PREFIX):
                continue
            self.states[key], changes = self.qualifier.advance(state, now_ms)
            if changes:
                self.changes.setdefault(key, []).extend(changes)

    def leads(self) -> dict[str, LeadState]:
        """The states of leads (not of anonymous visitors)."""
        return {k: s for k, s in self.states.items() if not k.startswith(ANONYMOUS_PREFIX)}


def replay_stream(
    qualifier: Qualifier, events: Iterable[LeadEvent], finish_ms: int | None = None
) -> Replay:
    """Replay events in the order given; with finish_ms, then advance every lead to it."""
    replay = Replay(qualifier)
    for event in events:
        replay.feed(event)
    if finish_ms is not None:
        replay.finish(finish_ms)
    return replay
