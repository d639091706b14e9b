"""Simulated traffic for tests: cached samples of the simulator's events."""

from __future__ import annotations

from functools import cache

from streams.tools.simulate.event import SimEvent
from streams.tools.simulate.traffic import generate


@cache
def sample(leads: int = 300, seed: int = 1) -> list[SimEvent]:
    """generate(leads, seed), made once per test session (callers must not mutate it)."""
    return generate(leads, seed)
