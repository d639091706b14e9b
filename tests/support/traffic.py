"""Simulated traffic for tests: cached samples, and the events and Kafka messages of a run."""

from __future__ import annotations

from functools import cache

import orjson

from streams.core.ruleset import load_ruleset
from streams.tools.expected import reference
from streams.tools.simulate.event import SimEvent
from streams.tools.simulate.traffic import generate


@cache
def sample(leads: int = 300, seed: int = 1) -> list[SimEvent]:
    """generate(leads, seed), made once per test session (callers must not mutate it)."""
    return generate(leads, seed)


def sim_events(leads: int, seed: int) -> list[SimEvent]:
    """Simulated website, email and call events (profile facts apply from when they are
    processed, not retroactively, so they would make the final stage order-dependent)."""
    return [e for e in generate(leads, seed=seed) if e.kind != "profile"]


def sim_messages(events: list[SimEvent]) -> list[tuple[str, bytes | None, bytes]]:
    """The events as (topic, key, value) messages for their input topics."""
    return [
        (f"leads.{e.kind}", e.key.encode() if e.key else None, orjson.dumps(e.value))
        for e in events
    ]


def final_stages_of(events: list[SimEvent], rules: str = "default") -> dict[str, str]:
    """Where the pure core, reading the events in order, leaves every lead it moves out of
    `lead`: what a worker must emit, read in any interleaving."""
    ref = reference(load_ruleset(rules), [(e.kind, e.value) for e in events])
    return {lead: stage for lead, stage in ref.final.items() if stage != "lead"}
