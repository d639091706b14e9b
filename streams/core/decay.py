"""When a qualified lead's decaying engagement falls below the ruleset's demotion threshold."""

from __future__ import annotations

from streams.core.evaluate import View
from streams.core.ruleset import Ruleset
from streams.core.state import LeadState


def demotion_ms(rules: Ruleset, state: LeadState, until_ms: int | None = None) -> int | None:
    """The first event time, after the lead entered sql, at which its decaying
    engagement fell below the demotion threshold, having been at or above it.

    With until_ms only a time at or before it: None when the first such time is later
    (the search stops at until_ms instead of finding it)."""
    demotion = rules.demotion
    half_life_ms = rules.engagement.half_life
    if demotion is None or half_life_ms is None or state.stage != "sql":
        return None
    entered = state.stage_at_ms if state.stage_at_ms is not None else state.clock_ms
    if entered is None:
        return None
    below = demotion.below

    def score(at_ms: int) -> float:
        return View(rules, state, at_ms).engagement_score()

    moments = sorted(
        {entered} | {h.at_ms for hs in state.hits.values() for h in hs if h.at_ms > entered}
    )
    armed = False
    for i, start in enumerate(moments):
        if until_ms is not None and start > until_ms:  # what comes next is later still
            return None
        value = score(start)
        armed = armed or value >= below
        if not armed:
            continue
        if value < below:
            return start
        end = moments[i + 1] - 1 if i + 1 < len(moments) else start + 64 * half_life_ms
        if end <= start or score(end) >= below:
            continue
        # Between hits the score only falls (negative points do not decay).
        lo, hi = start, end
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if score(mid) < below:
                hi = mid
            else:
                lo = mid
        return hi if until_ms is None or hi <= until_ms else None
    return None
