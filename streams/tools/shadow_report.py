"""`leadq shadow report`: the active and the shadow ruleset's stage changes compared."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from rich.console import Console
from rich.table import Table

from streams.backtest.metrics import REPORTED_STAGES
from streams.backtest.outcomes import Outcomes
from streams.backtest.render import percent, times
from streams.core.events import STAGES, Stage


class ShadowReportError(ValueError):
    """Records that cannot be compared, in one sentence."""


@dataclass(frozen=True)
class Side:
    """One ruleset's stage changes: which rulesets wrote them, the leads that ever reached
    each stage, and each lead's latest stage (that of its highest sequence)."""

    rulesets: tuple[tuple[str, str], ...]  # (name, version) in order of first appearance
    changes: int  # distinct change ids
    reached: Mapping[Stage, frozenset[str]]
    latest: Mapping[str, Stage]

    def latest_of(self, lead_id: str) -> Stage:
        """A lead's latest stage; `lead` for a lead without a change."""
        return self.latest.get(lead_id, "lead")


@dataclass(frozen=True)
class StageScore:
    """How well reaching a stage predicts conversion, for one ruleset."""

    leads: int
    converted: int
    precision: float | None
    recall: float | None
    lift: float | None


@dataclass(frozen=True)
class OutcomeScores:
    """Both rulesets scored on the leads of an outcomes file."""

    leads: int
    converted: int
    base_rate: float | None
    active: Mapping[Stage, StageScore]
    shadow: Mapping[Stage, StageScore]
    leads_without_outcome: int  # leads with changes that the outcomes file does not name


@dataclass(frozen=True)
class ShadowReport:
    """The comparison: each side, the leads whose latest stage differs, and the scores."""

    active: Side
    shadow: Side
    leads: int  # leads with a change under either
    differences: list[tuple[str, Stage, Stage]]  # (lead id, active, shadow), by lead id
    scores: OutcomeScores | None


def summarise(records: Iterable[Mapping[str, Any]]) -> Side:
    """One side from its stage-change records (re-emissions, same change_id, count once)."""
    rulesets: dict[tuple[str, str], None] = {}
    seen: set[str] = set()
    reached: dict[Stage, set[str]] = {stage: set() for stage in STAGES}
    best: dict[str, tuple[int, Stage]] = {}
    for record in records:
        try:
            change_id = str(record["change_id"])
            lead_id = str(record["lead_id"])
            sequence = int(record["sequence"])
            stage = str(record["to_stage"])
            ruleset = record["ruleset"]
            name, version = str(ruleset["name"]), str(ruleset["version"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ShadowReportError(f"a record is not a stage change (missing {exc})") from None
        if stage not in STAGES:
            raise ShadowReportError(f"stage change {change_id} has an unknown stage {stage!r}")
        rulesets.setdefault((name, version), None)
        seen.add(change_id)
        reached[stage].add(lead_id)
        if lead_id not in best or sequence > best[lead_id][0]:
            best[lead_id] = (sequence, stage)
    return Side(
        rulesets=tuple(rulesets),
        changes=len(seen),
        reached={stage: frozenset(leads) for stage, leads in reached.items()},
        latest={lead_id: stage for lead_id, (_, stage) in best.items()},
    )


def _ratio(part: float, whole: float) -> float | None:
    return part / whole if whole else None


def score(side: Side, outcomes: Outcomes) -> dict[Stage, StageScore]:
    """Per reported stage, over the leads the outcomes name (a lead without a change never
    reached any stage): precision, recall and lift of having reached it."""
    base_rate = _ratio(len(outcomes.positive), len(outcomes.known))
    scores: dict[Stage, StageScore] = {}
    for stage in REPORTED_STAGES:
        reached = side.reached[stage] & outcomes.known
        hits = len(reached & outcomes.positive)
        precision = _ratio(hits, len(reached))
        scores[stage] = StageScore(
            leads=len(reached),
            converted=hits,
            precision=precision,
            recall=_ratio(hits, len(outcomes.positive)),
            lift=precision / base_rate if precision is not None and base_rate else None,
        )
    return scores


def compare(
    active_records: Iterable[Mapping[str, Any]],
    shadow_records: Iterable[Mapping[str, Any]],
    outcomes: Outcomes | None = None,
) -> ShadowReport:
    """Compare the records of leads.stage-changes and leads.shadow-stage-changes."""
    active, shadow = summarise(active_records), summarise(shadow_records)
    leads = sorted(active.latest.keys() | shadow.latest.keys())
    differences = [
        (lead_id, active.latest_of(lead_id), shadow.latest_of(lead_id))
        for lead_id in leads
        if active.latest_of(lead_id) != shadow.latest_of(lead_id)
    ]
    scores = None
    if outcomes is not None:
        scores = OutcomeScores(
            leads=len(outcomes.known),
            converted=len(outcomes.positive),
            base_rate=_ratio(len(outcomes.positive), len(outcomes.known)),
            active=score(active, outcomes),
            shadow=score(shadow, outcomes),
            leads_without_outcome=len(set(leads) - outcomes.known),
        )
    return ShadowReport(active, shadow, len(leads), differences, scores)


def _side_json(side: Side) -> dict[str, Any]:
    latest = Counter(side.latest.values())
    return {
        "rulesets": [{"name": name, "version": version} for name, version in side.rulesets],
        "changes": side.changes,
        "leads": len(side.latest),
        "reached": {stage: len(side.reached[stage]) for stage in REPORTED_STAGES},
        "latest": {stage: latest.get(stage, 0) for stage in STAGES if stage != "lead"},
    }


def _score_json(s: StageScore) -> dict[str, Any]:
    return {
        "leads": s.leads,
        "converted": s.converted,
        "precision": s.precision,
        "recall": s.recall,
        "lift": s.lift,
    }


def to_json(report: ShadowReport, listed: int = 20) -> dict[str, Any]:
    """The report as JSON (documented in docs/rules.md, "Shadow rulesets")."""
    out: dict[str, Any] = {
        "leads": report.leads,
        "active": _side_json(report.active),
        "shadow": _side_json(report.shadow),
        "differences": {
            "count": len(report.differences),
            "leads": [
                {"lead_id": lead_id, "active": a, "shadow": s}
                for lead_id, a, s in report.differences[:listed]
            ],
        },
        "outcomes": None,
    }
    if (scores := report.scores) is not None:
        out["outcomes"] = {
            "leads": scores.leads,
            "converted": scores.converted,
            "base_rate": scores.base_rate,
            "leads_without_outcome": scores.leads_without_outcome,
            "stages": {
                stage: {
                    "active": _score_json(scores.active[stage]),
                    "shadow": _score_json(scores.shadow[stage]),
                }
                for stage in REPORTED_STAGES
            },
        }
    return out


def _names(side: Side) -> str:
    return ", ".join(f"{name} {version}" for name, version in side.rulesets) or "no changes yet"


def render(report: ShadowReport, console: Console, listed: int = 20) -> None:
    """The report as tables for a person."""
    active, shadow = report.active, report.shadow
    console.print(
        f"active: {_names(active)} ({active.changes:,} changes, {len(active.latest):,} leads);"
        f" shadow: {_names(shadow)} ({shadow.changes:,} changes, {len(shadow.latest):,} leads)"
    )
    reach = Table(title="leads that reached each stage")
    for name in ("stage", "active", "shadow"):
        reach.add_column(name, justify="left" if name == "stage" else "right", no_wrap=True)
    for stage in REPORTED_STAGES:
        reach.add_row(stage, f"{len(active.reached[stage]):,}", f"{len(shadow.reached[stage]):,}")
    console.print(reach)
    diff = report.differences
    console.print(
        f"{len(diff):,} of {report.leads:,} lead(s) whose latest stage differs (active → shadow)"
    )
    for lead_id, a, s in diff[:listed]:
        console.print(f"  {lead_id}: {a} → {s}")
    if len(diff) > listed:
        console.print(f"  … and {len(diff) - listed:,} more")
    if (scores := report.scores) is None:
        return
    console.print(
        f"outcomes: {scores.leads:,} leads, {scores.converted:,} converted"
        f" (base rate {percent(scores.base_rate)})"
    )
    table = Table(show_lines=True)
    for name in ("stage", "ruleset", "leads", "precision", "recall", "lift"):
        table.add_column(name, justify="left" if name in ("stage", "ruleset") else "right")
    for stage in REPORTED_STAGES:
        rows = [("active", scores.active[stage]), ("shadow", scores.shadow[stage])]
        table.add_row(
            stage,
            "\n".join(name for name, _ in rows),
            "\n".join(f"{s.leads:,}" for _, s in rows),
            "\n".join(percent(s.precision) for _, s in rows),
            "\n".join(percent(s.recall) for _, s in rows),
            "\n".join(times(s.lift) for _, s in rows),
        )
    console.print(table)
    if scores.leads_without_outcome:
        console.print(
            f"{scores.leads_without_outcome:,} lead(s) with changes have no outcome: not scored"
        )
