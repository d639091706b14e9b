"""Score a replay against known outcomes: per stage reach, precision, recall, lift, time."""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from streams.core.events import STAGES, Stage
from streams.core.journeys import LeadJourney

REPORTED_STAGES: Final[tuple[Stage, ...]] = ("sql", "sqo", "disqualified")


@dataclass(frozen=True, slots=True)
class StageMetrics:
    """How well reaching one stage (ever, during the history) predicts conversion."""

    leads: int
    converted: int
    precision: float | None
    recall: float | None
    lift: float | None
    median_time_to_stage_s: float | None


@dataclass(frozen=True, slots=True)
class RulesetReport:
    """One ruleset's metrics over the same leads and outcomes."""

    name: str
    version: str
    leads: int
    converted: int
    base_rate: float | None
    stages: Mapping[Stage, StageMetrics]
    final_stages: Mapping[Stage, int]


def _ratio(part: float, whole: float) -> float | None:
    return part / whole if whole else None


def evaluate(
    name: str, version: str, journeys: Mapping[str, LeadJourney], positive: frozenset[str]
) -> RulesetReport:
    """Metrics of every reported stage; leads not in `positive` count as not converted."""
    total = len(journeys)
    converted = sum(1 for lead_id in journeys if lead_id in positive)
    base_rate = _ratio(converted, total)
    stages: dict[Stage, StageMetrics] = {}
    for stage in REPORTED_STAGES:
        reached = [o for o in journeys.values() if stage in o.reached_ms]
        hits = sum(1 for o in reached if o.lead_id in positive)
        precision = _ratio(hits, len(reached))
        times = [(o.reached_ms[stage] - o.first_event_ms) / 1000 for o in reached]
        stages[stage] = StageMetrics(
            leads=len(reached),
            converted=hits,
            precision=precision,
            recall=_ratio(hits, converted),
            lift=precision / base_rate if precision is not None and base_rate else None,
            median_time_to_stage_s=statistics.median(times) if times else None,
        )
    finals = Counter(o.final_stage for o in journeys.values())
    return RulesetReport(
        name=name,
        version=version,
        leads=total,
        converted=converted,
        base_rate=base_rate,
        stages=stages,
        final_stages={stage: finals.get(stage, 0) for stage in STAGES},
    )


def final_stage_differences(
    a: Mapping[str, LeadJourney], b: Mapping[str, LeadJourney]
) -> list[tuple[str, Stage, Stage]]:
    """(lead id, final stage under A, under B) for every lead where they differ, by lead id."""
    return [
        (lead_id, a[lead_id].final_stage, b[lead_id].final_stage)
        for lead_id in sorted(a.keys() & b.keys())
        if a[lead_id].final_stage != b[lead_id].final_stage
    ]
