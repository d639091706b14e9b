"""Simulated traffic of many leads in event-time order, and each lead's known outcome."""

from __future__ import annotations

import gc
import random
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

from streams.tools.simulate.event import SimEvent
from streams.tools.simulate.journeys import lead_events, start_lead

DEFAULT_START: Final = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def generate(
    leads: int, seed: int, start: datetime | None = None, lead_prefix: str = "sim"
) -> list[SimEvent]:
    """Every lead's journey as contract messages, sorted by event time (ties by event id).

    Deterministic: the same (leads, seed, start, lead_prefix) gives the same list, and lead i's
    journey does not depend on how many leads are generated.
    """
    if leads < 0:
        raise ValueError("leads must be >= 0")
    base = DEFAULT_START if start is None else start
    if base.tzinfo is None:
        base = base.replace(tzinfo=UTC)
    rows: list[tuple[int, str, SimEvent]] = []
    # Only new, long-lived objects are made here: cyclic GC passes would just cost ~1/3 of the time.
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        for index in range(1, leads + 1):
            rows.extend(lead_events(index, seed, base, lead_prefix))
    finally:
        if gc_was_enabled:
            gc.enable()
    rows.sort(key=lambda row: (row[0], row[1]))
    return [row[2] for row in rows]


# Chance that a lead of each journey is won: opportunities often, nurtured leads rarely.
WIN_CHANCE: Final = {
    "sqo": 0.45,
    "sql": 0.12,
    "sql_dq": 0.03,
    "nurture": 0.02,
    "nurture_dq": 0.005,
    "student": 0.0,
}


@dataclass(frozen=True, slots=True)
class SimulatedOutcomes:
    """The known outcome (won or lost) of every simulated lead, by lead id."""

    by_lead: dict[str, str]


def simulated_outcomes(leads: int, seed: int, lead_prefix: str = "sim") -> SimulatedOutcomes:
    """Whether each lead of `generate(leads, seed)` was won, drawn per lead from its journey.

    The draw uses its own RNG stream, so generate()'s traffic is the same as without it.
    """
    by_lead: dict[str, str] = {}
    for index in range(1, leads + 1):
        lead, journey = start_lead(index, seed, DEFAULT_START, lead_prefix)
        won = random.Random(f"{seed}/{index}/outcome").random() < WIN_CHANCE[journey]
        by_lead[lead.lead_id] = "won" if won else "lost"
    return SimulatedOutcomes(by_lead)
