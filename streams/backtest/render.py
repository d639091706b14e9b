"""Backtest results as JSON (documented shape) and as a terminal table."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

from streams.backtest.metrics import REPORTED_STAGES, RulesetReport
from streams.backtest.run import MAX_LISTED, BacktestResult


def _report_json(report: RulesetReport) -> dict[str, Any]:
    return {
        "ruleset": {"name": report.name, "version": report.version},
        "stages": {
            stage: {
                "leads": m.leads,
                "converted": m.converted,
                "precision": m.precision,
                "recall": m.recall,
                "lift": m.lift,
                "median_time_to_stage_s": m.median_time_to_stage_s,
            }
            for stage, m in report.stages.items()
        },
        "final_stages": dict(report.final_stages),
    }


def to_json(result: BacktestResult, listed: int = 20) -> dict[str, Any]:
    """Ruleset A's report at the top level; with a comparison, B under `compare` and the
    leads whose final stage differs under `differences` (count, and the first `listed`)."""
    first = result.reports[0]
    inp = result.input
    out: dict[str, Any] = {
        "leads": first.leads,
        "converted": first.converted,
        "base_rate": first.base_rate,
        **_report_json(first),
        "input": {
            "lines": inp.lines,
            "events": inp.events,
            "invalid": inp.invalid,
            "invalid_examples": [
                {"line": e.line, "code": e.code, "message": e.message} for e in inp.invalid_examples
            ],
            "unattributed_anonymous_events": inp.unattributed_events,
            "conflicting_visitors": len(inp.conflicting_visitors),
            "conflicting_visitor_ids": list(inp.conflicting_visitors[:listed]),
            "leads_without_outcome": inp.leads_without_outcome,
            "outcomes_without_events": inp.outcomes_without_events,
        },
    }
    if len(result.reports) > 1 and result.differences is not None:
        out["compare"] = _report_json(result.reports[1])
        out["differences"] = {
            "count": len(result.differences),
            "leads": [
                {"lead_id": lead_id, "a": a, "b": b}
                for lead_id, a, b in result.differences[:listed]
            ],
        }
    return out


def percent(value: float | None) -> str:
    """A share as a percentage, or '-' when undefined."""
    return "-" if value is None else f"{value:.1%}"


def times(value: float | None) -> str:
    """A ratio such as lift, or '-' when undefined."""
    return "-" if value is None else f"{value:.2f}x"


def duration(seconds: float | None) -> str:
    """A duration the way a person says it: 45 s, 12 min, 5.5 h, 3.2 d."""
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    if seconds < 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} d"


def render_table(result: BacktestResult, console: Console, listed: int = 20) -> None:
    """The per-stage table (A and B rows side by side per stage), then notes on the input."""
    inp = result.input
    first = result.reports[0]
    names = " vs ".join(f"{r.name} {r.version}" for r in result.reports)
    console.print(
        f"{names}: {inp.events:,} events, {first.leads:,} leads, {first.converted:,} converted"
        f" (base rate {percent(first.base_rate)})"
    )
    table = Table(show_lines=len(result.reports) > 1)
    for name in ("stage", "ruleset", "leads", "precision", "recall", "lift", "median time"):
        left = name in ("stage", "ruleset")
        table.add_column(name, justify="left" if left else "right", no_wrap=True)
    for stage in REPORTED_STAGES:
        cells: list[list[str]] = [[] for _ in range(7)]
        for report in result.reports:
            m = report.stages[stage]
            row = [
                stage,
                report.name,
                f"{m.leads:,}",
                percent(m.precision),
                percent(m.recall),
                times(m.lift),
                duration(m.median_time_to_stage_s),
            ]
            for column, text in zip(cells, row, strict=True):
                column.append(text)
        cells[0] = [stage]
        table.add_row(*("\n".join(column) for column in cells))
    console.print(table)
    _notes(result, console, listed)


def _notes(result: BacktestResult, console: Console, listed: int) -> None:
    inp = result.input
    if inp.invalid:
        where = ", ".join(f"line {e.line}: {e.code}" for e in inp.invalid_examples)
        console.print(f"{inp.invalid:,} invalid line(s) skipped ({where})")
    if inp.leads_without_outcome:
        console.print(f"{inp.leads_without_outcome:,} lead(s) have no outcome: counted as lost")
    if inp.outcomes_without_events:
        console.print(f"{inp.outcomes_without_events:,} outcome(s) name leads without events")
    if inp.unattributed_events:
        console.print(
            f"{inp.unattributed_events:,} anonymous event(s) of unidentified visitors not counted"
        )
    if inp.conflicting_visitors:
        names = ", ".join(inp.conflicting_visitors[:MAX_LISTED])
        console.print(
            f"{len(inp.conflicting_visitors):,} visitor id(s) identified as several leads,"
            f" not merged: {names}"
        )
    if result.differences is not None:
        a, b = result.reports[0].name, result.reports[1].name
        diff = result.differences
        console.print(f"{len(diff):,} lead(s) end in another stage (under {a} → under {b})")
        for lead_id, stage_a, stage_b in diff[:listed]:
            console.print(f"  {lead_id}: {stage_a} → {stage_b}")
        if len(diff) > listed:
            console.print(f"  … and {len(diff) - listed:,} more")
    console.print(f"read in {result.read_s:.1f} s, replayed in {result.replay_s:.1f} s")
