"""The SQL threshold: the engagement score that reaches the target recall most precisely."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from streams.core.evaluate import View
from streams.core.events import LeadEvent
from streams.core.qualify import Qualifier
from streams.core.ruleset import Condition
from streams.core.state import LeadState


@dataclass(frozen=True, slots=True)
class Threshold:
    """An engagement threshold and what it does on the training leads."""

    score: float
    reached: int
    converted: int
    recall: float
    precision: float


def peak_score(
    qualifier: Qualifier,
    lead_id: str,
    events: Sequence[LeadEvent],
    also: Sequence[Condition] = (),
) -> float:
    """The highest engagement score a lead has while it could still become an SQL (its stage
    is `lead` and the `also` conditions hold), replayed like a backtest. With sql criteria
    no score reaches, the lead becomes an SQL under `engagement >= N` iff this is >= N."""
    state = LeadState(key=lead_id)
    peak = 0.0
    for event in sorted(events, key=lambda e: (e.at_ms, e.event_id)):
        state, _ = qualifier.apply(state, event)
        if state.stage != "lead":
            continue
        if event.type != "profile" and not qualifier.signals_of(event):
            continue  # neither the score nor the profile went up
        view = View(qualifier.rules, state, state.clock_ms if qualifier.time_dependent else None)
        if all(view.holds(cond) is not None for cond in also):
            peak = max(peak, view.scores()["engagement"])
    return peak


def choose_threshold(
    peaks: Sequence[float], labels: Sequence[bool], target_recall: float
) -> Threshold | None:
    """Among thresholds > 0 whose recall is at least target_recall, the most precise (ties:
    the higher recall); None if no threshold reaches the target."""
    converted = sum(labels)
    if not converted:
        return None
    best: Threshold | None = None
    for score in sorted({p for p in peaks if p > 0}):
        reached = [label for peak, label in zip(peaks, labels, strict=True) if peak >= score]
        hits = sum(reached)
        recall = hits / converted
        if recall < target_recall:
            break
        candidate = Threshold(score, len(reached), hits, recall, hits / len(reached))
        if best is None or candidate.precision > best.precision:
            best = candidate
    return best
