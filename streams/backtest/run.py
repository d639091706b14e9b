"""The backtest job: load rulesets, history and outcomes, replay, score, compare."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from streams.backtest.history import InvalidLine, read_history
from streams.backtest.metrics import RulesetReport, evaluate, final_stage_differences
from streams.backtest.outcomes import Outcomes, OutcomesError, read_outcomes
from streams.backtest.parallel import default_workers, journeys_in_parallel, no_gc
from streams.backtest.progress import Steps
from streams.core.events import Stage
from streams.core.journeys import LeadJourney, group_by_lead
from streams.core.qualify import Qualifier
from streams.core.ruleset import Ruleset, RulesetError, load_ruleset

MAX_LISTED: Final = 5


class BacktestError(Exception):
    """A backtest that cannot run, in one sentence for the user."""


@dataclass(frozen=True, slots=True)
class InputSummary:
    """What was read, and what of it could not be used."""

    lines: int
    events: int
    invalid: int
    invalid_examples: tuple[InvalidLine, ...]
    leads: int
    unattributed_events: int
    conflicting_visitors: tuple[str, ...]
    leads_without_outcome: int
    outcomes_without_events: int


@dataclass(frozen=True, slots=True)
class BacktestResult:
    """Reports of ruleset A (and B), the leads whose final stage differs, and the timings."""

    input: InputSummary
    reports: tuple[RulesetReport, ...]
    journeys: tuple[dict[str, LeadJourney], ...]
    differences: tuple[tuple[str, Stage, Stage], ...] | None
    read_s: float
    replay_s: float


def load_rules(names: Sequence[str]) -> list[Ruleset]:
    """Every ruleset named, or a BacktestError with the first problem."""
    rulesets = []
    for name in names:
        try:
            rulesets.append(load_ruleset(name))
        except RulesetError as exc:
            raise BacktestError(f"bad ruleset {exc}") from None
    return rulesets


def _outcomes(path: Path) -> Outcomes:
    try:
        return read_outcomes(path)
    except OutcomesError as exc:
        raise BacktestError(str(exc)) from None
    except UnicodeDecodeError:
        raise BacktestError(f"{path} is not a UTF-8 text file") from None


def _need_file(path: Path, what: str) -> None:
    if not path.is_file():
        raise BacktestError(f"{what} file {path} not found")


def run_backtest(
    events_path: Path,
    outcomes_path: Path,
    rules: Sequence[str],
    *,
    workers: int | None = None,
    steps: Steps | None = None,
) -> BacktestResult:
    """Replay the history through each ruleset and score each against the outcomes."""
    _need_file(events_path, "events")
    _need_file(outcomes_path, "outcomes")
    rulesets = load_rules(rules)
    outcomes = _outcomes(outcomes_path)
    steps = steps or Steps(None)
    began = time.perf_counter()
    with no_gc():
        loaded = read_history(events_path, steps.step("reading", events_path.stat().st_size))
        if not loaded.events:
            raise BacktestError(
                f"{events_path} has no valid events"
                f" ({loaded.lines} line(s), {loaded.invalid} invalid)"
            )
        history = group_by_lead(loaded.events)
        if not history.by_lead:
            raise BacktestError(f"{events_path} has no events that name or identify a lead")
        read_s = time.perf_counter() - began
        count = workers if workers is not None else default_workers(len(loaded.events))
        qualifiers = [Qualifier(r) for r in rulesets]
        advance = steps.step("replaying", len(history.by_lead) * len(qualifiers))
        results = journeys_in_parallel(qualifiers, history.by_lead, count, advance, history.end_ms)
        replay_s = time.perf_counter() - began - read_s
    reports = tuple(
        evaluate(r.name, r.version, result, outcomes.positive)
        for r, result in zip(rulesets, results, strict=True)
    )
    leads = history.by_lead.keys()
    summary = InputSummary(
        lines=loaded.lines,
        events=len(loaded.events),
        invalid=loaded.invalid,
        invalid_examples=tuple(loaded.examples),
        leads=len(leads),
        unattributed_events=history.unattributed_events,
        conflicting_visitors=history.conflicting_visitors,
        leads_without_outcome=len(leads - outcomes.known),
        outcomes_without_events=len(outcomes.known - leads),
    )
    differences = None
    if len(results) > 1:
        differences = tuple(final_stage_differences(results[0], results[1]))
    return BacktestResult(summary, reports, tuple(results), differences, read_s, replay_s)
