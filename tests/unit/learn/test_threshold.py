"""The sql threshold: most precise at the target recall; peaks replayed by the core."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from streams.core.events import LeadEvent
from streams.core.qualify import Qualifier
from streams.core.ruleset import parse_ruleset
from streams.learn.threshold import choose_threshold, peak_score

RULES = """
name = "t"
version = "1"
[signals.demo]
description = "demo"
points = 30
max_points = 30
match = [{ type = "form_submit", form = "demo_request" }]
[signals.ebook]
description = "ebook"
points = 10
max_points = 10
match = [{ type = "content_download", asset_type = "ebook" }]
[signals.no_budget]
description = "no budget"
match = [{ type = "call_completed", disposition = "no_budget" }]
[stages.sql]
description = "never"
criteria = { score = "engagement", gte = 1e12 }
[stages.sqo]
description = "never"
criteria = { score = "engagement", gte = 1e12 }
[[disqualify]]
reason = "no_budget"
description = "no budget"
when = { signal = "no_budget" }
"""


def at(i: int) -> datetime:
    return datetime(2026, 1, 5, tzinfo=UTC) + timedelta(hours=i)


def ev(i: int, etype: str, **properties: object) -> LeadEvent:
    return LeadEvent(
        event_id=f"e{i}",
        type=etype,
        lead_id="lead-1",
        anonymous_id=None,
        occurred_at=at(i),
        properties=properties,
    )


def test_choose_the_most_precise_threshold_at_the_target_recall() -> None:
    peaks = [0, 10, 10, 20, 30, 30, 40, 40]
    labels = [True, False, True, False, True, False, True, True]
    best = choose_threshold(peaks, labels, target_recall=0.5)
    assert best is not None
    # 40 reaches 2 of 5 winners (too few); 30 reaches 3 of them among 4 leads (75 %).
    assert (best.score, best.reached, best.converted) == (30, 4, 3)
    assert (best.recall, best.precision) == (0.6, 0.75)
    wide = choose_threshold(peaks, labels, target_recall=0.8)
    assert wide is not None
    assert (wide.score, wide.recall) == (10, 0.8)
    assert choose_threshold(peaks, labels, target_recall=1.0) is None  # one winner scored 0
    assert choose_threshold(peaks, [False] * 8, 0.3) is None


def test_peak_stops_at_disqualification() -> None:
    qualifier = Qualifier(parse_ruleset(RULES))
    events = [
        ev(1, "content_download", asset="x", asset_type="ebook"),
        ev(2, "call_completed", direction="outbound", duration_s=60, outcome="connected",
           disposition="no_budget"),
        ev(3, "form_submit", form="demo_request"),
    ]  # fmt: skip
    assert peak_score(qualifier, "lead-1", events) == 10
    assert peak_score(qualifier, "lead-1", [events[0], events[2]]) == 40
